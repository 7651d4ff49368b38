"""`credreg institutions …`: the issuer's admin API from the command line (bootstrap admin key)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

institutions = typer.Typer(
    help="Create institutions and manage their signing keys and API keys (admin key needed).",
    no_args_is_help=True,
)

IssuerUrl = Annotated[
    str,
    typer.Option(
        "--url", envvar="CREDREG_ISSUER_URL", help="The issuer's base URL.", show_default=True
    ),
]
AdminKey = Annotated[
    str,
    typer.Option(
        "--admin-key",
        envvar="CREDREG_ADMIN_API_KEY",
        help="The bootstrap admin key (or CREDREG_ADMIN_API_KEY).",
        show_default=False,
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")]
DEFAULT_URL = "http://127.0.0.1:8001"


TRANSPORT: httpx.AsyncBaseTransport | None = None
"""Where requests go instead of the network (tests put the issuer app here)."""


def _call(method: str, url: str, admin_key: str, path: str, body: Any = None) -> Any:
    """One admin request: the JSON answer, or a message and a non-zero exit."""
    try:
        response = asyncio.run(_request(method, url.rstrip("/") + path, admin_key, body))
    except httpx.HTTPError as error:
        typer.echo(f"credreg: cannot reach the issuer at {url}: {error}", err=True)
        raise typer.Exit(code=2) from None
    if response.status_code >= 400:
        typer.echo(f"credreg: {response.status_code} {_problem(response)}", err=True)
        raise typer.Exit(code=1)
    return response.json() if response.content else None


async def _request(method: str, url: str, admin_key: str, body: Any) -> httpx.Response:
    async with httpx.AsyncClient(transport=TRANSPORT, timeout=30) as client:
        return await client.request(
            method, url, json=body, headers={"Authorization": f"Bearer {admin_key}"}
        )


def _segment(value: str) -> str:
    """A path segment: a did:web's own `%3A` must reach the issuer as written."""
    return quote(value, safe=":")


def _problem(response: httpx.Response) -> str:
    try:
        problem = response.json()
    except ValueError:
        return response.text[:500]
    detail = problem.get("detail") or problem.get("title") or ""
    errors = problem.get("errors") or []
    lines = [f"{'.'.join(str(p) for p in e.get('loc', []))}: {e.get('msg')}" for e in errors]
    return "; ".join([str(detail), *lines]) if lines else str(detail)


def _print_institutions(found: list[dict[str, Any]], as_json: bool) -> None:
    console = Console()
    if as_json:
        console.print_json(json.dumps(found))
        return
    table = Table(title="Institutions", title_justify="left")
    for column in ("id", "name", "slug", "cryptosuite", "active key", "DID document"):
        table.add_column(column, overflow="fold")
    for i in found:
        table.add_row(
            *(
                escape(str(v))
                for v in (
                    i["id"],
                    i["name"],
                    i["slug"],
                    i["cryptosuite"],
                    i["active_key"],
                    i["did_document_url"],
                )
            )
        )
    console.print(table)


@institutions.command("create")
def create(
    slug: Annotated[str, typer.Argument(help="Short name: lower-case letters, digits, dashes.")],
    name: Annotated[str, typer.Option("--name", help="The institution's name.")],
    admin_key: AdminKey,
    did: Annotated[
        str | None,
        typer.Option("--did", help="Its own did:web, if it hosts its DID document itself."),
    ] = None,
    cryptosuite: Annotated[
        str, typer.Option("--cryptosuite", help="eddsa-rdfc-2022 or eddsa-jcs-2022.")
    ] = "eddsa-rdfc-2022",
    url: IssuerUrl = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Create an institution with its first signing key (hosted as did:web unless --did)."""
    body: dict[str, Any] = {"slug": slug, "name": name, "cryptosuite": cryptosuite}
    if did is not None:
        body["did"] = did
    _print_institutions([_call("POST", url, admin_key, "/v1/institutions", body)], as_json)


@institutions.command("list")
def list_(admin_key: AdminKey, url: IssuerUrl = DEFAULT_URL, as_json: AsJson = False) -> None:
    """Every institution."""
    _print_institutions(_call("GET", url, admin_key, "/v1/institutions"), as_json)


@institutions.command("rotate-key")
def rotate_key(
    institution: Annotated[str, typer.Argument(help="The institution's DID.")],
    admin_key: AdminKey,
    url: IssuerUrl = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Make a new signing key active; earlier keys stay in the DID document."""
    found = _call("POST", url, admin_key, f"/v1/institutions/{_segment(institution)}/keys")
    _print_institutions([found], as_json)


@institutions.command("create-api-key")
def create_api_key(
    institution: Annotated[str, typer.Argument(help="The institution's DID.")],
    admin_key: AdminKey,
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="issue, revoke or read; repeat for several (default all)."),
    ] = None,
    label: Annotated[str | None, typer.Option("--label", help="What the key is for.")] = None,
    url: IssuerUrl = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Create an API key: it is printed this once, and credreg keeps only its digest."""
    body: dict[str, Any] = {"label": label}
    if scope:
        body["scopes"] = scope
    created = _call(
        "POST", url, admin_key, f"/v1/institutions/{_segment(institution)}/api-keys", body
    )
    if as_json:
        Console().print_json(json.dumps(created))
        return
    typer.echo(
        f"API key {created['id']} for {created['institution']} ({', '.join(created['scopes'])})"
    )
    typer.echo(created["key"])
    typer.echo("Store it now: it is not shown again.", err=True)


@institutions.command("revoke-api-key")
def revoke_api_key(
    institution: Annotated[str, typer.Argument(help="The institution's DID.")],
    key_id: Annotated[str, typer.Argument(help="The API key's id (not the key).")],
    admin_key: AdminKey,
    url: IssuerUrl = DEFAULT_URL,
) -> None:
    """Revoke an API key; its next request is refused."""
    _call(
        "DELETE",
        url,
        admin_key,
        f"/v1/institutions/{_segment(institution)}/api-keys/{_segment(key_id)}",
    )
    typer.echo(f"revoked API key {key_id} of {institution}")


@institutions.command("reseal-keys")
def reseal_keys(admin_key: AdminKey, url: IssuerUrl = DEFAULT_URL) -> None:
    """After a key-encryption key rotation: seal every signing key under the new KEK."""
    answer = _call("POST", url, admin_key, "/v1/key-encryption/reseal")
    typer.echo(f"resealed {answer['resealed']} signing key(s) under {answer['active_kek']}")
