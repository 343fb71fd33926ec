"""compose/: Prometheus scrapes every gateway and node where they serve their metrics, and the
provisioned Grafana dashboard only queries metrics that ``transport.metrics`` exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "compose"
EXPORTER = Path(__file__).resolve().parents[2] / "transport" / "metrics.py"


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def test_prometheus_scrapes_the_gateway_on_api_port_and_every_node_on_metrics_port() -> None:
    services = load(COMPOSE / "docker-compose.yml")["services"]
    scrape = {c["job_name"]: c for c in load(COMPOSE / "prometheus" / "prometheus.yml")["scrape_configs"]}

    node_port = int(services["node"]["environment"]["METRICS_PORT"])
    assert services["node"]["environment"]["REDIS_URL"] == services["gateway"]["environment"]["REDIS_URL"]
    assert scrape["avtomat-node"]["dns_sd_configs"][0] == {
        "names": ["node"], "type": "A", "port": node_port, "refresh_interval": "30s"
    }  # fmt: skip
    assert scrape["avtomat-gateway"]["dns_sd_configs"][0]["names"] == ["gateway"]
    assert scrape["avtomat-gateway"]["dns_sd_configs"][0]["port"] == 8080
    assert {c["metrics_path"] for c in scrape.values()} == {"/_public/metrics"}
    mounted = services["prometheus"]["volumes"][0].split(":")[0]
    assert (COMPOSE / mounted).resolve() == (COMPOSE / "prometheus" / "prometheus.yml").resolve()


def test_the_dashboard_queries_only_exported_metrics() -> None:
    dashboard = json.loads((COMPOSE / "grafana" / "dashboards" / "avtomat.json").read_text())
    exported = set(re.findall(r'"(orchestrator_[a-z_]+)"', EXPORTER.read_text()))
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        for name in re.findall(r"orchestrator_[a-z_]+", target["expr"])
    }

    def family(name: str) -> str:
        return re.sub(r"_(total|bucket|count|sum)$", "", name)

    assert queried and {family(name) for name in queried} <= exported
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
