"""Load profiles (loadtests/profiles/*.yaml): stages of users, spawn rate and duration."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from drillkit.model.files import read_mapping, validate_mapping


class Stage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    duration_s: float = Field(gt=0, description="how long this stage lasts")
    users: int = Field(ge=0, le=100_000, description="concurrent simulated users")
    spawn_rate: float = Field(gt=0, description="users started (or stopped) per second to reach `users`")


class LoadProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = ""
    stages: list[Stage] = Field(min_length=1)

    @property
    def duration_s(self) -> float:
        return sum(stage.duration_s for stage in self.stages)

    def scaled_to(self, seconds: float) -> LoadProfile:
        """The same shape squeezed (or stretched) into SECONDS, for a quick run."""
        factor = seconds / self.duration_s
        stages = [stage.model_copy(update={"duration_s": stage.duration_s * factor}) for stage in self.stages]
        return self.model_copy(update={"stages": stages})

    def locust_stages(self) -> list[dict[str, float]]:
        return [{"duration": s.duration_s, "users": s.users, "spawn_rate": s.spawn_rate} for s in self.stages]


def load_profile(path: Path) -> LoadProfile:
    return validate_mapping(LoadProfile, read_mapping(path), path)
