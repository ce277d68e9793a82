"""OGC API landing page (``/``) and conformance (``/conformance``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from eotrust.api.links import Link, base_url

router = APIRouter(tags=["Landing"])

PROCESSES_CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/ogc-process-description",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/job-list",
    # Part 2 (api/deploy.py): deploy, replace, undeploy of OGC application packages in CWL
    "http://www.opengis.net/spec/ogcapi-processes-2/1.0/conf/deploy-replace-undeploy",
    "http://www.opengis.net/spec/ogcapi-processes-2/1.0/conf/ogcapppkg",
    "http://www.opengis.net/spec/ogcapi-processes-2/1.0/conf/cwl",
]
COMMON_CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/oas30",
]


class LandingPage(BaseModel):
    """OGC API landing page (``landingPage.yaml``)."""

    model_config = ConfigDict(extra="allow")
    title: str | None = None
    description: str | None = None
    links: list[Link]


class ConfClasses(BaseModel):
    """OGC API conformance declaration (``confClasses.yaml``)."""

    conformsTo: list[str] = Field(..., description="URIs of the conformance classes implemented")


@router.get("/", response_model=LandingPage, response_model_exclude_none=True, summary="Landing page")
def landing(request: Request) -> dict[str, Any]:
    base = base_url(request)
    return {
        "title": "eotrust",
        "description": "Trusted, decentralised deep learning on Earth-observation data",
        "links": [
            {"href": f"{base}/", "rel": "self", "type": "application/json", "title": "this document"},
            {
                "href": f"{base}/openapi.json",
                "rel": "service-desc",
                "type": "application/vnd.oai.openapi+json;version=3.0",
                "title": "the API definition",
            },
            {"href": f"{base}/api.html", "rel": "service-doc", "type": "text/html", "title": "the API documentation"},
            {
                "href": f"{base}/conformance",
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/conformance",
                "type": "application/json",
                "title": "conformance classes",
            },
            {
                "href": f"{base}/processes",
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/processes",
                "type": "application/json",
                "title": "published workflows as processes",
            },
            {
                "href": f"{base}/jobs",
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/job-list",
                "type": "application/json",
                "title": "jobs (ledger tasks)",
            },
            {"href": f"{base}/stac", "rel": "data", "type": "application/json", "title": "STAC API"},
            {"href": f"{base}/web/", "rel": "alternate", "type": "text/html", "title": "web page"},
        ],
    }


@router.get("/conformance", response_model=ConfClasses, summary="Conformance classes")
def conformance() -> dict[str, Any]:
    return {"conformsTo": COMMON_CONFORMANCE + PROCESSES_CONFORMANCE}
