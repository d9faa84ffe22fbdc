"""The backup policy's rules, judged: pure functions from what was observed to CheckItems.

Every figure is real seconds, as observed; the policy handed in is already scaled to the target's clock.
Only backups whose status is DONE count: a failed or running backup restores nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from drillkit.backup.walchain import Archive, WalName, continuity, parse_segment, segment_name
from drillkit.model.backup import BackupInfo, BackupPolicy, CheckItem

__all__ = [
    "EncryptionFindings", "StreamState", "Verification", "done", "judge_encryption", "judge_full",
    "judge_incremental", "judge_restorable", "judge_retention", "judge_stream", "judge_verified",
    "judge_wal_continuity", "restorable_point", "seconds",
]

_NAMED = 10  # files named in a reason; the count is always given in full


def seconds(value: float) -> str:
    return f"{value:.1f} s"


def done(backups: list[BackupInfo]) -> list[BackupInfo]:
    """The DONE backups, oldest first."""
    return sorted((info for info in backups if info.status == "DONE"), key=_end)


def _end(info: BackupInfo) -> datetime:
    return datetime.fromisoformat(info.end_utc or info.begin_utc or "1970-01-01T00:00:00+00:00")


def _age(info: BackupInfo, now: datetime) -> float:
    return (now - _end(info)).total_seconds()


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:_NAMED])
    return shown + (f" and {len(items) - _NAMED} more" if len(items) > _NAMED else "")


# -- backup ages ------------------------------------------------------------------------------------

def judge_full(backups: list[BackupInfo], now: datetime, policy: BackupPolicy) -> CheckItem:
    fulls = [info for info in done(backups) if info.kind == "full"]
    return _newest_within("newest full", fulls, now, policy.full_every, "full backup")


def judge_incremental(backups: list[BackupInfo], now: datetime, policy: BackupPolicy) -> CheckItem:
    """The newest backup of any kind (a full also resets the incremental interval)."""
    return _newest_within("newest incremental", done(backups), now, policy.incremental_every, "backup")


def _newest_within(name, candidates: list[BackupInfo], now: datetime, every: float, what: str) -> CheckItem:
    if not candidates:
        return CheckItem(name=name, ok=False, observed=f"no finished (DONE) {what} in the catalogue",
                         reason=f"there is no {what} at all")
    newest = candidates[-1]
    age = _age(newest, now)
    observed = f"{newest.id} ({newest.kind}) ended {seconds(age)} ago; allowed {seconds(every)}"
    if age <= every:
        return CheckItem(name=name, ok=True, observed=observed)
    return CheckItem(name=name, ok=False, observed=observed,
                     reason=f"the newest {what} is {seconds(age)} old, older than the allowed {seconds(every)}")


# -- the WAL archive --------------------------------------------------------------------------------

def judge_wal_continuity(backups: list[BackupInfo], archive: Archive) -> CheckItem:
    name = "WAL continuity"
    kept = [info for info in done(backups) if info.begin_wal]
    if not kept:
        return CheckItem(name=name, ok=False, observed="no finished backup names its first WAL segment",
                         reason="there is no backup to start the WAL chain from")
    start = min((info.begin_wal or "" for info in kept), key=_segment_number)
    run_end, gap = continuity(archive, start)
    newest = archive.newest()
    newest_name = _segment(newest, archive)
    timelines = sorted({wal.timeline for wal in archive.parsed()})
    observed = (f"from {start} (oldest kept backup's first segment) to {newest_name} (newest archived); "
                f"timelines {', '.join(map(str, timelines)) or 'none'}")
    if gap is None:
        return CheckItem(name=name, ok=True, observed=observed + "; no segment missing")
    return CheckItem(name=name, ok=False, observed=observed + f"; {gap.missing} segment(s) missing",
                     reason=f"the WAL archive has a gap: {gap.first_missing} is missing "
                            f"({gap.missing} missing in all; continuous up to {_segment(run_end, archive)})")


def _segment_number(name: str) -> int:
    wal = parse_segment(name)
    return wal.number if wal else -1


def _segment(wal: WalName | None, archive: Archive) -> str:
    return segment_name(wal, archive.segment_size) if wal else "none"


# -- verification -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Verification:
    backup_id: str
    ok: bool
    how: str                        # "barman verify-backup" or "decrypted, then pg_verifybackup"
    detail: str = ""                # the tool's complaint when it failed


def judge_verified(backups: list[BackupInfo], verifications: list[Verification]) -> CheckItem:
    name = "backups verified"
    kept = done(backups)
    if not kept:
        return CheckItem(name=name, ok=False, observed="no finished backup to verify",
                         reason="there is no backup at all")
    by_id = {check.backup_id: check for check in verifications}
    observed = "; ".join(
        f"{info.id}: {'verified' if by_id[info.id].ok else 'FAILED'} ({by_id[info.id].how})" if info.id in by_id
        else f"{info.id}: not verified" for info in kept)
    failed = [f"{info.id}: {by_id[info.id].detail or 'failed'}" for info in kept
              if info.id in by_id and not by_id[info.id].ok]
    unverified = [info.id for info in kept if info.id not in by_id]
    if not failed and not unverified:
        return CheckItem(name=name, ok=True, observed=observed)
    reasons = [f"backup {entry}" for entry in failed]
    reasons += [f"backup {_names(unverified)} could not be verified"] if unverified else []
    return CheckItem(name=name, ok=False, observed=observed, reason="; ".join(reasons))


# -- the restorable point ---------------------------------------------------------------------------

def restorable_point(backups: list[BackupInfo], archive: Archive, archived_at: dict[str, float],
                     ) -> tuple[datetime | None, str]:
    """The newest point a restore can reach, and how it was found: the end of the archive that runs
    unbroken from the newest backup's first segment (when it reaches that backup's end), else the newest
    backup's end."""
    kept = done(backups)
    if not kept:
        return None, "no finished backup"
    newest = kept[-1]
    backup_end = _end(newest)
    if not newest.begin_wal:
        return backup_end, f"end of backup {newest.id} (its WAL range is unknown)"
    run_end, _ = continuity(archive, newest.begin_wal)
    end_wal = parse_segment(newest.end_wal or newest.begin_wal)
    if run_end is None or end_wal is None or run_end.number < end_wal.number:
        return backup_end, f"end of backup {newest.id} (its own WAL is not all archived)"
    last = _segment(run_end, archive)
    if last not in archived_at:
        return backup_end, f"end of backup {newest.id} (no archive time for {last})"
    archived = datetime.fromtimestamp(archived_at[last], backup_end.tzinfo)
    if archived <= backup_end:
        return backup_end, f"end of backup {newest.id}"
    return archived, f"end of the continuous archive: {last}, archived at {archived.isoformat()}"


def judge_restorable(point: datetime | None, how: str, now: datetime, policy: BackupPolicy) -> CheckItem:
    name = "restorable point"
    if point is None:
        return CheckItem(name=name, ok=False, observed=how, reason="nothing can be restored: there is no backup")
    age = (now - point).total_seconds()
    observed = f"newest restorable point {seconds(age)} old ({how}); RPO objective {seconds(policy.rpo)}"
    if age <= policy.rpo:
        return CheckItem(name=name, ok=True, observed=observed)
    return CheckItem(name=name, ok=False, observed=observed,
                     reason=f"the newest restorable point is {seconds(age)} old, beyond the RPO of "
                            f"{seconds(policy.rpo)}")


# -- the WAL stream ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class StreamState:
    """Barman's WAL receiver as the leader sees it."""

    leader: str                      # the read-write member asked ("127.0.10.1:5432")
    slot_exists: bool
    connected: bool                  # the slot is active (a receiver streams from it)
    stopped_for: float | None = None  # seconds since the slot became inactive (pg_replication_slots)
    lag: float | None = None         # seconds behind the leader, when connected
    lag_bytes: int | None = None
    how: str = ""                    # how the lag was measured


def judge_stream(stream: StreamState, policy: BackupPolicy) -> CheckItem:
    name = "WAL stream"
    allowed = policy.max_wal_lag
    if not stream.slot_exists:
        return CheckItem(name=name, ok=False, observed=f"no replication slot for barman on the leader {stream.leader}",
                         reason="the WAL stream has no slot on the leader: WAL is not retained for barman")
    if not stream.connected:
        stopped = "for an unknown time" if stream.stopped_for is None else f"for {seconds(stream.stopped_for)}"
        observed = f"barman's receiver is not connected to the leader {stream.leader} ({stopped}); allowed lag " \
                   f"{seconds(allowed)}"
        if stream.stopped_for is not None and stream.stopped_for <= allowed:
            return CheckItem(name=name, ok=True, observed=observed + " — within the allowed lag")
        return CheckItem(name=name, ok=False, observed=observed,
                         reason=f"the WAL stream is stopped: barman's receiver has not streamed from the leader "
                                f"{stopped}, longer than the allowed lag of {seconds(allowed)}")
    if stream.lag is None:
        return CheckItem(name=name, ok=False, observed=f"connected to the leader {stream.leader}; lag not measured",
                         reason="the WAL stream's lag could not be measured")
    behind = (f", its last reported write position {stream.lag_bytes} bytes before the leader's"
              if stream.lag_bytes is not None else "")
    observed = (f"connected to the leader {stream.leader}, lag {seconds(stream.lag)}{behind} ({stream.how}); "
                f"allowed {seconds(allowed)}")
    if stream.lag <= allowed:
        return CheckItem(name=name, ok=True, observed=observed)
    return CheckItem(name=name, ok=False, observed=observed,
                     reason=f"the WAL stream lags {seconds(stream.lag)}, more than the allowed {seconds(allowed)}")


# -- encryption at rest -----------------------------------------------------------------------------

@dataclass(frozen=True)
class EncryptionFindings:
    marker_segment: str              # the WAL segment the marker was written into
    marker_archived: bool            # ... and barman archived it before the search
    files_searched: int
    plaintext_hits: list[str] = field(default_factory=list)      # "path (how)" for each file holding the marker
    not_encrypted: list[str] = field(default_factory=list)       # backup data / archived WAL not OpenPGP
    encrypted_checked: int = 0       # backup data and archived WAL files checked for OpenPGP
    plaintext_by_design: list[str] = field(default_factory=list)  # present, searched, left plain by barman


def judge_encryption(found: EncryptionFindings) -> CheckItem:
    name = "encryption at rest"
    observed = (f"marker written into WAL segment {found.marker_segment} "
                f"({'archived' if found.marker_archived else 'NOT archived'}); {found.files_searched} files "
                f"searched raw and inside gzip/bzip2/xz streams; {found.encrypted_checked} backup data and "
                f"archived WAL files checked for OpenPGP, {len(found.not_encrypted)} not encrypted")
    if found.plaintext_by_design:
        observed += ("; plaintext by Barman's design (searched too): " + _names(found.plaintext_by_design))
    reasons = []
    if found.plaintext_hits:
        reasons.append(f"the marker is readable in {len(found.plaintext_hits)} file(s): {_names(found.plaintext_hits)}")
    if found.not_encrypted:
        reasons.append(f"{len(found.not_encrypted)} file(s) are not OpenPGP messages: {_names(found.not_encrypted)}")
    if not found.marker_archived:
        reasons.append(f"the marker's segment {found.marker_segment} was not archived, so the archive was not "
                       "proven to hide it")
    if found.encrypted_checked == 0:
        reasons.append("no backup data or archived WAL file was found to check")
    return CheckItem(name=name, ok=not reasons, observed=observed, reason="; ".join(reasons))


# -- retention --------------------------------------------------------------------------------------

def judge_retention(backups: list[BackupInfo], now: datetime, running_for: float | None,
                    policy: BackupPolicy) -> CheckItem:
    """The catalogue must reach back the retention window: its oldest backup's end is the oldest point a
    restore can reach. A backup server younger than the window cannot have filled it yet."""
    name = "retention"
    kept = done(backups)
    window = policy.retention
    if not kept:
        return CheckItem(name=name, ok=False, observed=f"no finished backup; window {seconds(window)}",
                         reason="the catalogue covers nothing: there is no backup")
    covered = _age(kept[0], now)
    observed = f"oldest point {kept[0].id} {seconds(covered)} old; window {seconds(window)}; {len(kept)} backup(s)"
    if covered >= window:
        return CheckItem(name=name, ok=True, observed=observed + "; window covered")
    if running_for is not None and running_for < window:
        return CheckItem(name=name, ok=True, observed=f"window not yet filled (oldest point {seconds(covered)} "
                         f"old; the backup server has run for {seconds(running_for)}; window {seconds(window)})")
    since = "an unknown time" if running_for is None else seconds(running_for)
    return CheckItem(name=name, ok=False, observed=observed,
                     reason=f"the catalogue reaches back only {seconds(covered)} of the {seconds(window)} window, "
                            f"although the backup server has run for {since}")
