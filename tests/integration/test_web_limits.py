"""The Procfile's web process refuses a huge body before reading it (invitations/body_limit.py):
anyone can send one, before any login or webhook secret is checked."""

import socket

MiB = 1024 * 1024


def post_headers(path: str, content_length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {content_length}\r\n\r\n"
    ).encode()


def read_answer(client: socket.socket) -> bytes:
    """Everything the server says until it closes the connection (a server that reads the
    whole body first says nothing: the socket's timeout fails the test)."""
    answer = b""
    while chunk := client.recv(4096):
        answer += chunk
    return answer


def test_a_200_mib_post_to_a_webhook_is_answered_413_before_its_body_is_sent(stack):
    stack.start_web()
    port = int(stack.base_url.rsplit(":", 1)[1])

    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(post_headers("/anymail/postmark/tracking/", 200 * MiB) + b"{")
        answer = read_answer(client)

    assert answer.startswith(b"HTTP/1.1 413 "), answer
    assert answer.endswith(b"Request body too large.\n"), answer


def test_a_post_within_the_limit_is_served(stack):
    stack.start_web()
    port = int(stack.base_url.rsplit(":", 1)[1])
    body = b"x" * (3 * MiB)

    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(post_headers("/anymail/postmark/tracking/", len(body)) + body)
        answer = client.recv(4096)  # the status line comes first

    assert answer.startswith(b"HTTP/1.1 400 "), answer  # the webhook's answer without its secret
