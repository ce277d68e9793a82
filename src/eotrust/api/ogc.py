"""OGC API - Processes - Part 1: Core (1.0) documents as pydantic models, so the OpenAPI
document states exactly what the routes return: processSummary, process (with input and
output descriptions), processList, execute, statusInfo, jobList, exception."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from eotrust.api.links import Link

EXC = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0"
REL_RESULTS = "http://www.opengis.net/def/rel/ogc/1.0/results"
REL_EXECUTE = "http://www.opengis.net/def/rel/ogc/1.0/execute"
REL_JOB_LIST = "http://www.opengis.net/def/rel/ogc/1.0/job-list"
REL_PROCESS = "http://www.opengis.net/def/rel/ogc/1.0/processes"


class JobControlOptions(str, Enum):
    sync_execute = "sync-execute"
    async_execute = "async-execute"
    dismiss = "dismiss"


class TransmissionMode(str, Enum):
    value = "value"
    reference = "reference"


class Metadata(BaseModel):
    model_config = ConfigDict(extra="allow")
    title: str | None = None
    role: str | None = None
    href: str | None = None


class DescriptionType(BaseModel):
    model_config = ConfigDict(extra="allow")
    title: str | None = None
    description: str | None = None
    keywords: list[str] | None = None
    metadata: list[Metadata] | None = None


class ProcessSummary(DescriptionType):
    id: str
    version: str
    jobControlOptions: list[JobControlOptions] | None = None
    outputTransmission: list[TransmissionMode] | None = None
    links: list[Link] | None = None


class InputDescription(DescriptionType):
    minOccurs: int = 1
    maxOccurs: int | Literal["unbounded"] = 1
    schema_: dict[str, Any] = Field(..., alias="schema")


class OutputDescription(DescriptionType):
    schema_: dict[str, Any] = Field(..., alias="schema")


class Process(ProcessSummary):
    inputs: dict[str, InputDescription] | None = None
    outputs: dict[str, OutputDescription] | None = None


class ProcessList(BaseModel):
    processes: list[ProcessSummary]
    links: list[Link]


class OutputRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    format: dict[str, Any] | None = None
    transmissionMode: TransmissionMode | None = None


class Execute(BaseModel):
    """An execute request (``execute.yaml``): inputs by id; values are literals or qualified values."""

    model_config = ConfigDict(extra="allow")
    inputs: dict[str, Any] | None = None
    outputs: dict[str, OutputRequest] | None = None
    response: Literal["raw", "document"] | None = "raw"
    subscriber: dict[str, Any] | None = None


class StatusCode(str, Enum):
    accepted = "accepted"
    running = "running"
    successful = "successful"
    failed = "failed"
    dismissed = "dismissed"


class StatusInfo(BaseModel):
    processID: str | None = None
    type: Literal["process"] = "process"
    jobID: str
    status: StatusCode
    message: str | None = None
    created: datetime | None = None
    started: datetime | None = None
    finished: datetime | None = None
    updated: datetime | None = None
    progress: int | None = Field(default=None, ge=0, le=100)
    links: list[Link] | None = None


class JobList(BaseModel):
    jobs: list[StatusInfo]
    links: list[Link]


class OgcException(BaseModel):
    """``exception.yaml`` (RFC 7807 problem details)."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str | None = None
    status: int | None = None
    detail: str | None = None
    instance: str | None = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": OgcException, "description": "invalid request"},
    401: {"model": OgcException, "description": "missing or unknown API key"},
    403: {"model": OgcException, "description": "the API key's party may not do this"},
    404: {"model": OgcException, "description": "no such resource"},
}
