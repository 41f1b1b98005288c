"""/api/cookbot and /api/albabot: the robots of one kind with their work (original API names)."""

from __future__ import annotations

from aiohttp import web

from web.http.api import Routes
from web.keys import DB, REDIS, SETTINGS
from web.robots.kind_views import (
    AlbabotView,
    CookbotView,
    albabot_view,
    cookbot_view,
    open_orders,
    recipes,
)
from web.robots.registry import sql_robots
from web.robots.snapshots import load_robots
from web.security import ALL_ROLES

routes = Routes("kinds", "Robots by kind, with what they are doing and what waits for them.")


@routes.route(
    "GET",
    "/api/cookbot",
    summary="Cooking robots, the cooking queue and the recipes",
    roles=ALL_ROLES,
    response=CookbotView,
)
async def cookbot(request: web.Request) -> CookbotView:
    """Each cooking robot with the dish it cooks now; the dishes waiting for a free one;
    and the recipes of the robot-cooked menu."""
    app = request.app
    robots = await load_robots(app[REDIS], app[SETTINGS], sql=await sql_robots(app[DB]))
    return cookbot_view(robots, await open_orders(app[REDIS]), await recipes(app[DB]))


@routes.route(
    "GET",
    "/api/albabot",
    summary="Serving robots and the delivery queue",
    roles=ALL_ROLES,
    response=AlbabotView,
)
async def albabot(request: web.Request) -> AlbabotView:
    """Each serving robot with the order it carries now, and the deliveries waiting for one
    (`ready`: every dish is cooked)."""
    app = request.app
    robots = await load_robots(app[REDIS], app[SETTINGS], sql=await sql_robots(app[DB]))
    return albabot_view(robots, await open_orders(app[REDIS]))
