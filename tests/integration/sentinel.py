"""A Redis primary, its replica and three sentinels of a test's own, on loopback ports."""

import os
import signal
from pathlib import Path

import redis

from loopback.processes import Process, free_port, wait_for
from tests.integration.stack import RedisServer

MASTER_NAME = "invitations"
QUORUM = 2


class SentinelGroup:
    def __init__(self, work_dir: Path):
        self.work_dir = work_dir
        self.primary = RedisServer(work_dir, name="primary")
        self.replica = RedisServer(
            work_dir, "--replicaof", "127.0.0.1", str(self.primary.port), name="replica"
        )
        self.ports = {"primary": self.primary.port, "replica": self.replica.port}
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.processes: dict[str, Process] = {}
        self.clients: dict[int, redis.Redis] = {}

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{MASTER_NAME}/0"

    @property
    def primary_url(self) -> str:
        return self.primary.url

    def start(self) -> None:
        self.primary.start()
        self.replica.start()
        wait_for(self._replica_in_sync, timeout=15, message="the replica to sync")
        for number, port in enumerate(self.sentinel_ports):
            config = self.work_dir / f"sentinel-{number}.conf"  # a sentinel rewrites its own file
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.work_dir}\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.ports['primary']} {QUORUM}\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
                f"sentinel failover-timeout {MASTER_NAME} 5000\n"
            )
            self.processes[f"sentinel-{number}"] = Process(
                f"sentinel-{number}",
                ["redis-server", str(config), "--sentinel"],
                dict(os.environ),
                self.work_dir,
            )
        wait_for(lambda: self.master_port() == self.ports["primary"], timeout=15, message="the sentinels")
        # Sentinels must know each other and the replica before they can agree on a failover.
        wait_for(self._sentinels_see_everyone, timeout=30, message="the sentinels to find each other")

    def kill_primary(self) -> None:
        self.primary.process.signal(signal.SIGKILL)
        self.primary.process.wait(timeout=10)

    def master_port(self) -> int | None:
        """The master's port as the first sentinel that answers names it (None if none answers)."""
        for port in self.sentinel_ports:
            try:
                answer = self._client(port).sentinel_get_master_addr_by_name(MASTER_NAME)
            except redis.RedisError:
                continue
            if answer:
                return int(answer[1])
        return None

    def stop(self) -> None:
        for process in [*self.processes.values(), self.primary.process, self.replica.process]:
            if process is not None:
                process.stop()
        for client in self.clients.values():
            client.close()

    def _replica_in_sync(self) -> bool:
        info = self._client(self.ports["replica"]).info("replication")
        return info.get("master_link_status") == "up"

    def _sentinels_see_everyone(self) -> bool:
        for port in self.sentinel_ports:
            master = self._client(port).sentinel_master(MASTER_NAME)
            if int(master["num-other-sentinels"]) < 2 or int(master["num-slaves"]) < 1:
                return False
        return True

    def _client(self, port: int) -> redis.Redis:
        if port not in self.clients:
            self.clients[port] = redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1)
        return self.clients[port]
