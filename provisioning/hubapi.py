"""The hub's REST API as the provisioning tool uses it (httpx, an admin token).

    hub = HubClient("http://hub:8000", token)
    hub.register("hh-33010200100101", "handheld", pub_hex, grid_code="33010200100101")

Every failure is a ``HubApiError`` whose text is one line an operator can act on: the hub is
unreachable, the token is refused, or the hub's own ``{code, message}`` answer (a grid that
already has its handheld names the ``revoke`` command that frees it).
"""

from __future__ import annotations

from typing import Any

import httpx

from provisioning.errors import ProvisionError


class HubApiError(ProvisionError):
    """A call to the hub failed; ``code`` is the hub's error code (or ``unreachable`` ...)."""

    def __init__(self, message: str, *, code: str = "hub_error", status: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def _message(resp: httpx.Response) -> tuple[str, str, dict[str, Any]]:
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "message" in body:
        return str(body.get("code", "hub_error")), str(body["message"]), body.get("details") or {}
    if isinstance(body, dict) and "detail" in body:  # FastAPI's own shape
        detail = body["detail"]
        if isinstance(detail, list):  # request validation: [{"loc": [...], "msg": ...}]
            detail = "; ".join(
                f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}"
                for e in detail
                if isinstance(e, dict)
            )
        return "hub_error", _one_line(str(detail)), {}
    text = resp.text.strip().splitlines()
    return "hub_error", (text[0][:200] if text else resp.reason_phrase), {}


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0][:300] if lines else "no detail"


class HubClient:
    def __init__(self, url: str, token: str, timeout: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise HubApiError(f"hub URL {url!r}: want http://host:port or https://...")
        if not token:
            raise HubApiError("no admin token: pass --token or set GRIDLINK_ADMIN_TOKEN")
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport -------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kw)
        except httpx.TimeoutException:
            raise HubApiError(f"hub at {self.url} did not answer in time", code="timeout") from None
        except httpx.TransportError as exc:
            raise HubApiError(
                f"hub unreachable at {self.url}: {exc or type(exc).__name__}", code="unreachable"
            ) from None

    def _json(
        self,
        method: str,
        path: str,
        ok: tuple[int, ...] = (200,),
        not_found: dict[str, str] | None = None,
        **kw: Any,
    ) -> Any:
        """The answer's JSON, or a HubApiError. ``not_found`` words a 404 by the hub's error
        code (``"not_found"``: no such route); a 404 with another code (an unknown area when
        creating a rollout) keeps the hub's own message."""
        resp = self._call(method, path, **kw)
        if resp.status_code in ok:
            return resp.json()
        error = self._error(resp)
        if resp.status_code == 404 and not_found and error.code in not_found:
            raise HubApiError(not_found[error.code], code=error.code, status=404)
        raise error

    def _error(self, resp: httpx.Response) -> HubApiError:
        """The one line for the hub's error answer."""
        code, message, details = _message(resp)
        if resp.status_code == 401:
            message = (
                f"the hub refused the admin token ({message}): check --token / GRIDLINK_ADMIN_TOKEN"
            )
        elif resp.status_code == 403:
            message = f"the hub refused: {message} (an admin token is needed)"
        elif code == "grid_has_handheld" and details.get("device_id"):
            other = details["device_id"]
            message = f"{message}: revoke it first with `gridlink provision revoke {other}`"
        return HubApiError(message, code=code, status=resp.status_code)

    # --- the calls -------------------------------------------------------------------------

    def hub_key(self) -> str:
        """The hub's command-signing public key (64 hex), for the device config."""
        return str(self._json("GET", "/api/hub/key")["public_key"])

    def register(
        self, device_id: str, kind: str, public_key: str, grid_code: str | None
    ) -> dict[str, Any]:
        """``POST /api/devices``; the answer's ``broker`` is the device's broker account
        (``{"username", "password", "client_id"}``, shown once) or ``None``/absent."""
        body = {"id": device_id, "kind": kind, "public_key": public_key, "grid_code": grid_code}
        result: dict[str, Any] = self._json("POST", "/api/devices", ok=(201,), json=body)
        return result

    def device(self, device_id: str) -> dict[str, Any] | None:
        """The device's detail, or ``None`` when the hub does not know it."""
        resp = self._call("GET", f"/api/devices/{device_id}", params={"commands": 0})
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            return self._json("GET", f"/api/devices/{device_id}", params={"commands": 0})  # raises
        result: dict[str, Any] = resp.json()
        return result

    def devices(self, **filters: object) -> list[dict[str, Any]]:
        """Every device matching the filters (kind, status, grid_code, online), all pages."""
        params = {k: v for k, v in filters.items() if v is not None}
        out: list[dict[str, Any]] = []
        while True:
            page = self._json(
                "GET", "/api/devices", params={**params, "limit": 1000, "offset": len(out)}
            )
            out += page
            if len(page) < 1000:
                return out

    def grids(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._json("GET", "/api/grids")
        return result

    def broker_password(self, device_id: str) -> dict[str, Any] | None:
        """A new broker password for the device (re-flash after the first one was given)."""
        result: dict[str, Any] | None = self._json(
            "POST", f"/api/devices/{device_id}/broker-password"
        )
        return result

    def revoke(self, device_id: str, reason: str | None) -> dict[str, Any]:
        result: dict[str, Any] = self._json(
            "POST", f"/api/devices/{device_id}/revoke", json={"reason": reason}
        )
        return result

    def send_command(
        self, device_id: str, op: str, args: dict[str, Any] | None = None, lifetime_s: int = 600
    ) -> dict[str, Any]:
        result: dict[str, Any] = self._json(
            "POST",
            f"/api/devices/{device_id}/commands/{op}",
            ok=(201,),
            json={"args": args or {}, "lifetime_s": lifetime_s},
        )
        return result

    def command(self, command_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", f"/api/commands/{command_id}")
        return result

    # --- OTA (docs/ota.md, "API") ----------------------------------------------------------

    def upload_bundle(self, data: bytes) -> tuple[dict[str, Any], bool]:
        """``POST /api/ota/bundles`` with the .glb bytes: (BundleOut, True when new; False
        when the hub already had this bundle)."""
        resp = self._call(
            "POST",
            "/api/ota/bundles",
            content=data,
            headers={"Content-Type": "application/octet-stream"},
            timeout=max(30.0, len(data) / 200_000),
        )
        if resp.status_code in (200, 201):
            result: dict[str, Any] = resp.json()
            return result, resp.status_code == 201
        error = self._error(resp)
        if resp.status_code == 404 and error.code == "not_found":
            raise HubApiError(self._no_ota(), code="not_found", status=404)
        raise error

    def _no_ota(self) -> str:
        return f"the hub at {self.url} has no OTA API (an older hub?)"

    def _ota_404(self, **by_code: str) -> dict[str, str]:
        return {"not_found": self._no_ota(), **by_code}

    def bundles(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._json(
            "GET", "/api/ota/bundles", not_found=self._ota_404()
        )
        return result

    def bundle(self, bundle_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json(
            "GET",
            f"/api/ota/bundles/{bundle_id}",
            not_found=self._ota_404(bundle_not_found=f"no bundle {bundle_id} at the hub"),
        )
        return result

    def create_rollout(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/ota/rollouts``; the answer is the RolloutOut."""
        result: dict[str, Any] = self._json(
            "POST",
            "/api/ota/rollouts",
            ok=(201,),
            not_found=self._ota_404(
                bundle_not_found=f"no bundle {body.get('bundle')} at the hub "
                "(`gridlink provision ota bundles` lists them)"
            ),
            json=body,
        )
        return result

    def rollouts(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._json(
            "GET", "/api/ota/rollouts", not_found=self._ota_404()
        )
        return result

    def rollout(self, rollout_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json(
            "GET",
            f"/api/ota/rollouts/{rollout_id}",
            not_found=self._ota_404(rollout_not_found=_no_rollout(rollout_id)),
        )
        return result

    def rollout_action(self, rollout_id: str, action: str, force: bool = False) -> dict[str, Any]:
        """``POST /api/ota/rollouts/{id}/{advance|pause|resume|cancel}``."""
        result: dict[str, Any] = self._json(
            "POST",
            f"/api/ota/rollouts/{rollout_id}/{action}",
            not_found=self._ota_404(rollout_not_found=_no_rollout(rollout_id)),
            params={"force": "true"} if force else None,
        )
        return result


def _no_rollout(rollout_id: str) -> str:
    return f"no rollout {rollout_id} at the hub (`gridlink provision ota list` lists them)"
