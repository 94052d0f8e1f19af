"""What a case tells its unit's liaisons (hub.notify): the text of each kind of notice, in
Chinese first with English beside it, and the webhook's ``data``. ``actions`` call ``announce``
in the transaction of the change, so the notice is due the moment the change is committed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.orm import Session

from hub.areas.models import Grid, Unit
from hub.cases.categories import get_category
from hub.cases.models import Case
from hub.notify.models import Notification, NotificationKind
from hub.notify.service import notify
from hub.settings import Settings

K = NotificationKind

TITLES: dict[NotificationKind, tuple[str, str]] = {
    K.one_key_report: ("一键上报", "One-key report"),
    K.dispatch: ("新派遣案件", "Case dispatched to you"),
    K.escalation: ("案件升级交办", "Case escalated to you"),
    K.deadline_warning: ("办理即将超期", "Deadline approaching"),
    K.overdue: ("办理已超期，案件已上报上级", "Deadline passed: the case went up a level"),
    K.supervision: ("督办通知", "Supervision notice"),
}
LEVELS = {"community": ("社区", "community"), "street": ("街道", "street"),
          "township": ("乡镇", "township"), "district": ("区", "district"),
          "county": ("县", "county"), "city": ("市", "city")}  # fmt: skip
SUPERVISION = {
    "reminder": ("催办", "reminder"),
    "rectification": ("整改通知", "rectification notice"),
    "public_notice": ("通报", "public notice"),
    "summons": ("约谈", "summons"),
    "listed": ("挂牌督办", "listed supervision"),
}


def local_time(at: datetime | None, settings: Settings) -> str:
    if at is None:
        return "—"
    offset = settings.work_utc_offset_minutes
    zone = timezone(timedelta(minutes=offset))
    sign, minutes = ("+" if offset >= 0 else "-"), abs(offset)
    suffix = f"UTC{sign}{minutes // 60}" + (f":{minutes % 60:02d}" if minutes % 60 else "")
    return f"{at.astimezone(zone):%Y-%m-%d %H:%M} ({suffix})"


def case_url(case: Case, settings: Settings) -> str | None:
    return f"{settings.public_url}/console#/cases/{case.id}" if settings.public_url else None


def announce(
    *,
    db_session: Session,
    case: Case,
    kind: NotificationKind,
    at: datetime,
    settings: Settings,
    unit_id: int | None = None,
    note: str | None = None,
    supervision_level: str | None = None,
) -> Notification:
    """Notify ``unit_id`` (default: the case's unit) about ``case``. Flushes only."""
    unit_id = case.unit_id if unit_id is None else unit_id
    unit = db_session.get(Unit, unit_id) if unit_id is not None else None
    category = get_category(db_session=db_session, code=case.category_code) if (
        case.category_code) else None  # fmt: skip
    grid = db_session.get(Grid, case.grid_code) if case.grid_code else None
    zh, en = TITLES[kind]
    if supervision_level in SUPERVISION:
        zh_level, en_level = SUPERVISION[supervision_level]
        zh, en = f"{zh}（{zh_level}）", f"{en} ({en_level})"
    level_zh, level_en = LEVELS.get(case.level, (case.level, case.level))
    category_name = category.name if category else (case.category_code or "未分类")
    grid_name = f"{grid.name}（{grid.code}）" if grid else (case.grid_code or "—")
    unit_name = unit.name if unit else "—"
    url = case_url(case, settings)
    one_key = "【一键上报】" if case.one_key and kind != K.one_key_report else ""
    location = (
        f"{case.lat_e6 / 1e6:.6f}, {case.lon_e6 / 1e6:.6f}"
        if case.lat_e6 is not None and case.lon_e6 is not None
        else "—"
    )
    lines_zh = [
        f"{one_key}{zh}",
        f"案件编号：{case.id}",
        f"类别：{category_name}",
        f"网格：{grid_name}",
        f"层级：{level_zh}    承办单位：{unit_name}",
        f"上报时间：{local_time(case.reported_at, settings)}",
        f"办理期限：{local_time(case.deadline_at, settings)}",
        f"位置：{location}",
        f"内容：{case.text or '—'}",
    ]
    if note:
        lines_zh.append(f"说明：{note}")
    if url:
        lines_zh.append(f"查看：{url}")
    lines_en = [
        f"{'[one-key] ' if one_key else ''}{en}: case {case.id}, {case.category_code or '-'}, "
        f"grid {case.grid_code or '-'}, {level_en} level, unit {unit_name}",
        f"Reported {local_time(case.reported_at, settings)}; deadline "
        f"{local_time(case.deadline_at, settings)}; location {location}",
    ]
    if note:
        lines_en.append(f"Note: {note}")
    if url:
        lines_en.append(f"Open: {url}")
    data: dict[str, Any] = {
        "kind": kind.value,
        "title": {"zh": zh, "en": en},
        "unit": {"id": unit.id, "name": unit.name} if unit else None,
        "note": note,
        "supervision_level": supervision_level,
        "case": {
            "id": case.id,
            "source": case.source,
            "status": case.status,
            "one_key": case.one_key,
            "category_code": case.category_code,
            "category_name": category.name if category else None,
            "text": case.text,
            "grid_code": case.grid_code,
            "level": case.level,
            "reported_at": case.reported_at.isoformat(),
            "deadline_at": case.deadline_at.isoformat() if case.deadline_at else None,
            "lat_e6": case.lat_e6,
            "lon_e6": case.lon_e6,
            "url": url,
        },
    }
    return notify(
        db_session=db_session,
        kind=kind,
        unit_id=unit_id,
        case_id=case.id,
        grid_code=case.grid_code,
        at=at,
        subject=f"【网格通】{one_key}{zh}：案件 {case.id} {category_name} | {en}: case {case.id}",
        body="\n".join(lines_zh) + "\n\n" + "\n".join(lines_en) + "\n",
        data=data,
    )
