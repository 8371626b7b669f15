"""Where a fleet folder keeps what.

``healthhub-provision`` writes a fleet folder and ``healthhub-fleet`` (bridge,
console, reports) reads it; the two parts never import each other, so the
layout is part of the contract and lives here.

::

    FLEET_DIR/
      fleet.yaml                 name, broker host and port
      ca/ca.crt  ca/ca.key       the fleet's certificate authority
      ca/crl.pem                 certificates the CA revoked (mosquitto's crlfile)
      ca/issued.yaml             every certificate the CA issued, by serial, and revocations
      keys/signing.key|.pub      Ed25519: signs desired documents
      keys/ingest.key|.pub       X25519: clinical bodies are sealed to it
      broker/server.crt|.key     the practice broker's TLS identity
      broker/mosquitto.conf      written by `healthhub-provision broker`
      broker/acl                 per-device ACLs
      broker/data/               mosquitto persistence
      clients/bridge.crt|.key    the bridge's client certificate (CN healthhub-bridge)
      clients/console.crt|.key   the console's client certificate (CN healthhub-console)
      devices/{id}/              one enrolment bundle per device
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from healthhub.protocol import topics
from healthhub.protocol.errors import HealthHubError


@dataclass(frozen=True)
class ClientFiles:
    """A TLS client identity: certificate, private key and the CA that trusts the broker."""

    cert: Path
    key: Path
    ca: Path


@dataclass(frozen=True)
class FleetLayout:
    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / "fleet.yaml"

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca" / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca" / "ca.key"

    @property
    def crl(self) -> Path:
        """The CA's certificate revocation list (PEM), read by the broker (``crlfile``)."""
        return self.root / "ca" / "crl.pem"

    @property
    def issued_certificates(self) -> Path:
        """The index of every certificate the CA issued and which of them are revoked."""
        return self.root / "ca" / "issued.yaml"

    @property
    def signing_key(self) -> Path:
        return self.root / "keys" / "signing.key"

    @property
    def signing_pub(self) -> Path:
        return self.root / "keys" / "signing.pub"

    @property
    def ingest_key(self) -> Path:
        return self.root / "keys" / "ingest.key"

    @property
    def ingest_pub(self) -> Path:
        return self.root / "keys" / "ingest.pub"

    @property
    def broker_dir(self) -> Path:
        return self.root / "broker"

    @property
    def server_cert(self) -> Path:
        return self.broker_dir / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.broker_dir / "server.key"

    @property
    def broker_conf(self) -> Path:
        return self.broker_dir / "mosquitto.conf"

    @property
    def broker_acl(self) -> Path:
        return self.broker_dir / "acl"

    @property
    def broker_data(self) -> Path:
        return self.broker_dir / "data"

    @property
    def devices_dir(self) -> Path:
        return self.root / "devices"

    def device_dir(self, device: str) -> Path:
        return self.devices_dir / topics.validate_id(device, what="device id")

    def client(self, name: str) -> ClientFiles:
        """The client identity ``bridge`` or ``console``."""
        if name not in ("bridge", "console"):
            raise ValueError(f"unknown practice-side client {name!r}")
        return ClientFiles(
            cert=self.root / "clients" / f"{name}.crt",
            key=self.root / "clients" / f"{name}.key",
            ca=self.ca_cert,
        )


@dataclass(frozen=True)
class FleetManifest:
    """What ``fleet.yaml`` says: the fleet's name and where its broker listens."""

    name: str
    broker_host: str
    broker_port: int


def load_manifest(layout: FleetLayout) -> FleetManifest:
    """Read ``fleet.yaml``; :class:`FleetFolderError` if it is missing or broken."""
    import yaml  # the only YAML the protocol reads; kept local to this function

    try:
        data = yaml.safe_load(layout.manifest.read_text(encoding="utf-8"))
        broker = data["broker"]
        port = int(broker["port"])
        return FleetManifest(str(data["name"]), str(broker["host"]), port)
    except FileNotFoundError:
        raise FleetFolderError(f"{layout.root} is not a fleet folder (no fleet.yaml)") from None
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise FleetFolderError(f"{layout.manifest} is broken: {exc}") from None


class FleetFolderError(HealthHubError):
    """A fleet folder that is missing or incomplete."""
