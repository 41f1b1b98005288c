"""Request and answer models of /api/integrations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from msgspec import Meta, Struct

from web.http.schemas import Query, Request, RobotId, RoleName

IntegrationName = Annotated[
    str,
    Meta(
        pattern=r"^[a-z0-9][a-z0-9._-]{0,31}$",
        description="lowercase letters, digits, . _ -; up to 32 (audit events name it)",
        examples=["pos"],
    ),
]
RouteScope = Annotated[
    str,
    Meta(
        pattern=r"^((GET|POST|PUT|PATCH|DELETE) )?/(api|ws)(/[A-Za-z0-9._~-]+)*/?$",
        max_length=200,
        description="a path prefix the key may call (`/api/orders` also covers "
        "`/api/orders/{id}`), optionally after one method",
        examples=["/api/orders", "POST /api/robots", "/ws/orders"],
    ),
]


class IntegrationIn(Request):
    name: IntegrationName
    role: Annotated[RoleName, Meta(description="what the key may do, as a user of that role")]
    description: Annotated[str, Meta(max_length=500, description="for people")] = ""
    robots: (
        Annotated[
            list[RobotId],
            Meta(
                max_length=256,
                description="the robots it may reach on routes naming one in their path; "
                "null: every robot",
                examples=[["serve-1", "serve-2"]],
            ),
        ]
        | None
    ) = None
    routes: (
        Annotated[
            list[RouteScope],
            Meta(
                max_length=64, description="the routes it may call; null: every route its role may"
            ),
        ]
        | None
    ) = None
    rate_per_min: (
        Annotated[
            int,
            Meta(
                ge=1,
                le=100_000,
                description="its requests a minute (then 429); null: "
                "`web.integration_rate_per_min`",
            ),
        ]
        | None
    ) = None


class IntegrationOut(Struct, kw_only=True):
    name: Annotated[str, Meta(description="its name")]
    description: Annotated[str, Meta(description="for people")]
    role: Annotated[RoleName, Meta(description="what the key may do")]
    robots: Annotated[list[str] | None, Meta(description="robot scope; null: all")]
    routes: Annotated[list[str] | None, Meta(description="route scope; null: all")]
    rate_per_min: Annotated[int, Meta(description="its rate limit in force")]
    prefix: Annotated[
        str, Meta(description="the key's visible part (`rdk_<prefix>_...`), to tell keys apart")
    ]
    active: Annotated[bool, Meta(description="false once revoked")]
    created_by: Annotated[str, Meta(description="the admin who made it")]
    created_at: Annotated[datetime, Meta(description="when")]
    revoked_at: Annotated[datetime | None, Meta(description="when it was revoked")] = None
    last_used_at: Annotated[
        datetime | None, Meta(description="its last request (to within 10 s)")
    ] = None
    last_used_address: Annotated[
        str | None, Meta(description="the client address of its last request")
    ] = None


class IntegrationCreated(IntegrationOut, kw_only=True):
    key: Annotated[
        str,
        Meta(
            description="the key, shown this once: send it as `Authorization: Bearer <key>`",
            examples=["rdk_3f9a1c2b7d4e_QmFzZTY0IGVuY29kZWQgcmFuZG9tIGJ5dGVzIGhlcmU"],
        ),
    ]


class IntegrationList(Struct, kw_only=True):
    items: Annotated[list[IntegrationOut], Meta(description="by name")]


class IntegrationPath(Query):
    name: IntegrationName
