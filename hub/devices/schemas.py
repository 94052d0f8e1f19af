"""API schemas of the devices domain: register (with the broker account), read, bind, revoke;
the hub's public key."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from hub.devices.models import DeviceKind


class DeviceCreate(BaseModel):
    id: str
    kind: DeviceKind
    public_key: str
    grid_code: str | None = None
    name: str | None = None
    firmware: str | None = None


class DeviceRevoke(BaseModel):
    reason: str | None = None


class DeviceBind(BaseModel):
    grid_code: str | None


class DeviceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    public_key: str
    status: str
    revoked_at: datetime | None
    grid_code: str | None
    name: str | None
    firmware: str | None  # the running version its last birth reported
    hardware: str | None  # the hardware name its last birth reported (bundles match it)
    registered_at: datetime
    last_seen: datetime | None
    online: bool
    session: int
    last_seq: int
    max_seq: int
    chain_head: str
    announced_seq: int
    revoked_seq: int | None  # the watermark: later seqs are rejected as revoked
    revoked_head: str | None
    broker_disabled_at: datetime | None
    previous_key_until: datetime | None  # after a rotation, the old key verifies until then


class BrokerAccountRead(BaseModel):
    """A device's broker account; the password is shown once (the hub never stores it)."""

    username: str
    password: str
    client_id: str


class DeviceRegistered(DeviceRead):
    broker: BrokerAccountRead | None  # None: the hub runs without broker accounts


class DeviceRevoked(DeviceRead):
    broker_disabled: bool  # false: not (yet) disabled at the broker; supervision retries


class HubKeyRead(BaseModel):
    algorithm: str = "Ed25519"
    public_key: str
