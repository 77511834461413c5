FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PORT=8000
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# Static files are collected at build time; the key only satisfies the settings check.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput
RUN useradd --create-home app
USER app
CMD ["sh", "-c", "exec uvicorn myproject.asgi:application --host 0.0.0.0 --port $PORT --ws wsproto --ws-max-size 65536 --timeout-graceful-shutdown ${WEB_SHUTDOWN_TIMEOUT:-25}"]
