"""The distributed topology as local processes: N ``avtomat node`` and M ``avtomat gateway``
processes against the RabbitMQ and Redis of this machine — what compose/docker-compose.yml
runs, without Docker. The end-to-end and crash tests use it; people run it with
``python -m transport.app.topology --nodes 3``.

Every process is started by PID, logs to its own file, and is stopped (SIGTERM, then SIGKILL)
by ``stop()`` (``transport.app.processes``); ``kill_node`` sends SIGKILL to simulate a crash.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from transport.app.processes import Process, free_port

READY_LINE = " up on the distributed runtime"
STOP_TIMEOUT = 15.0  # seconds from SIGTERM to SIGKILL: more than a node's 10 s shutdown grace


def avtomat(role: str, log: Path, env: Mapping[str, str]) -> Process:
    """``avtomat <role>`` run by this interpreter (not yet started)."""
    return Process([sys.executable, "-m", "transport.app.cli", role], env, log)


@dataclass
class LocalTopology:
    env: Mapping[str, str]
    nodes: int = 3
    gateways: int = 1
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="avtomat-topology-")))
    node_processes: list[Process] = field(default_factory=list)
    gateway_processes: list[Process] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    def start(self, timeout: float = 30.0) -> LocalTopology:
        root = str(Path(__file__).resolve().parents[2])
        base = {**self.env, "PYTHONPATH": root + os.pathsep + self.env.get("PYTHONPATH", "")}
        scheme = "https" if self.env.get("TLS_CERT_PATH") else "http"
        for i in range(self.gateways):
            port = free_port()
            self.urls.append(f"{scheme}://127.0.0.1:{port}")
            env = {**base, "API_HOST": "127.0.0.1", "API_PORT": str(port), "INSTANCE_ID": f"gateway-{i}"}
            self.gateway_processes.append(avtomat("gateway", self.log_dir / f"gateway-{i}.log", env))
        for i in range(self.nodes):
            env = {**base, "INSTANCE_ID": f"node-{i}"}
            self.node_processes.append(avtomat("node", self.log_dir / f"node-{i}.log", env))
        for process in self.gateway_processes + self.node_processes:
            process.start()
        for process in self.gateway_processes + self.node_processes:
            process.wait_line(READY_LINE, timeout)
        for url in self.urls if scheme == "http" else ():  # over TLS the ready line is the check
            urllib.request.urlopen(f"{url}/_public/status", timeout=5).close()
        return self

    def kill_node(self, index: int) -> None:
        """SIGKILL: no shutdown, no acks; what a crash looks like to the broker."""
        self.node_processes[index].kill()

    def restart_node(self, index: int, timeout: float = 30.0) -> None:
        process = self.node_processes[index]
        process.stop(STOP_TIMEOUT)
        with process.log.open("a") as out:
            out.write("\n--- restarted ---\n")
        process.start()
        process.wait_line(READY_LINE, timeout)

    def stop(self) -> None:
        for process in self.gateway_processes + self.node_processes:
            process.stop(STOP_TIMEOUT)

    def __enter__(self) -> LocalTopology:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description="run the distributed topology as local processes")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--gateways", type=int, default=1)
    args = parser.parse_args()
    env = dict(os.environ)
    env.setdefault("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    topology = LocalTopology(env, nodes=args.nodes, gateways=args.gateways)
    try:
        topology.start()
        print(f"{args.nodes} nodes and {args.gateways} gateway(s) up; gateways: {', '.join(topology.urls)}")
        print(f"logs in {topology.log_dir}; Ctrl-C stops everything", flush=True)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        topology.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
