"""Keys of a mount: generate, import, name, delete, and the default key."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from warden.engines.pki import ca, store, x509util
from warden.engines.pki.fields import (
    KEY_FIELDS,
    PAGE_FIELDS,
    check_generation_type,
    check_name_field,
    page,
    storage_of,
)
from warden.engines.pki.store import KeyEntry, KeysConfig
from warden.framework import Field, FieldData, FieldType, Path, generic_name_regex
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response
from warden.logical.storage import Delete

if TYPE_CHECKING:
    from warden.engines.pki.backend import PkiBackend

S = FieldType.STRING
R, U, D, L = Operation.READ, Operation.UPDATE, Operation.DELETE, Operation.LIST
KEY_REF = {"key_ref": Field(S, "A key's id, its name, or \"default\".", required=True)}


def paths(b: PkiBackend) -> list[Path]:
    async def listing(req: Request, data: FieldData) -> Response:
        state = await b.ca(storage_of(req))
        info = {k.id: {"key_name": k.name, "key_type": k.key_type} for k in state.keys.values()}
        keys = page(list(info), data)
        return Response.listing(keys, {k: info[k] for k in keys})

    async def read(req: Request, data: FieldData) -> Response:
        return Response(data=_view((await b.ca(storage_of(req))).key(data.get("key_ref"))))

    async def rename(req: Request, data: FieldData) -> Response:
        state = await b.ca(storage_of(req))
        entry = state.key(data.get("key_ref"))
        name = check_name_field(data.get("key_name"), "a key name")
        if name and state.name_taken(name, issuer=False) and name != entry.name:
            raise InvalidRequest(f'a key named "{name}" already exists in this mount')
        entry = dataclasses.replace(entry, name=name)
        await store.save_key(storage_of(req), entry)
        b.ca_changed()
        return Response(data=_view(entry))

    async def delete(req: Request, data: FieldData) -> Response:
        return await _delete(b, req, data.get("key_ref"))

    async def generate(req: Request, data: FieldData) -> Response:
        kind = check_generation_type(data.get("exported"))
        if kind == "existing":
            raise InvalidRequest("keys/generate takes internal or exported")
        state = await b.ca(storage_of(req))
        choice = await ca.obtain_key(b, state, data, kind)
        await ca.commit(b, req, ca.new_key_ops(choice, state))
        body = _view(choice.entry)
        if kind == "exported":
            body["private_key"] = x509util.private_key_pem(choice.key)
        return Response(data=body)

    async def import_key(req: Request, data: FieldData) -> Response:
        return await _import(b, req, data)

    async def read_config(req: Request, data: FieldData) -> Response:
        return Response(data={"default": (await b.ca(storage_of(req))).default_key})

    async def write_config(req: Request, data: FieldData) -> Response:
        entry = (await b.ca(storage_of(req))).key(data.get("default"))
        await store.save_config(storage_of(req), store.CONFIG_KEYS, KeysConfig(default=entry.id))
        b.ca_changed()
        return Response(data={"default": entry.id})

    gen_fields = {**KEY_FIELDS, "exported": Field(S, "internal or exported.", required=True)}
    return [
        Path("keys/generate/(?P<exported>\\w+)", fields=gen_fields, operations={U: generate},
             help_synopsis="Generate a key for a later root or intermediate (type=existing)."),
        Path("keys/import", fields={"pem_bundle": Field(S, "An unencrypted PEM private key.", required=True),
                                    "key_name": Field(S, "A name for the key.")},
             operations={U: import_key}, help_synopsis="Import a private key."),
        Path("keys/?", fields=PAGE_FIELDS, operations={L: listing},
             help_synopsis="List the keys of this mount."),
        Path("key/" + generic_name_regex("key_ref"), fields={**KEY_REF, "key_name": Field(S, "A new name.")},
             operations={R: read, U: rename, D: delete},
             help_synopsis="Read, rename or delete a key (never its private part)."),
        Path("config/keys", fields={"default": Field(S, "The default key: id or name.")},
             operations={R: read_config, U: write_config}, help_synopsis="Read or set the default key."),
    ]


def _view(entry: KeyEntry) -> dict[str, Any]:
    return {"key_id": entry.id, "key_name": entry.name, "key_type": entry.key_type,
            "key_bits": entry.key_bits}


async def _delete(b: PkiBackend, req: Request, ref: str) -> Response:
    state = await b.ca(storage_of(req))
    entry = state.key(ref)
    users = sorted(i.id for i in state.issuers.values() if i.entry.key_id == entry.id)
    if users:
        raise InvalidRequest(f"key {entry.id} is used by issuers {', '.join(users)}; delete them first")
    ops = [Delete(store.KEY_PREFIX + entry.id)]
    if state.default_key == entry.id:
        ops.append(Delete(store.CONFIG_KEYS))
    await storage_of(req).batch(ops)
    b.ca_changed()
    return Response()


async def _import(b: PkiBackend, req: Request, data: FieldData) -> Response:
    try:
        keys, certs = x509util.split_pem_bundle(data.get("pem_bundle"))
    except ValueError as exc:
        raise InvalidRequest(f"pem_bundle: {exc}") from None
    if len(keys) != 1 or certs:
        raise InvalidRequest("pem_bundle must hold exactly one private key and nothing else")
    state = await b.ca(storage_of(req))
    pid = x509util.public_key_id(keys[0])
    for key_id, known in state.parsed_keys.items():
        if x509util.public_key_id(known) == pid:
            return Response(data=_view(state.keys[key_id]), warnings=["this key was already imported"])
    name = check_name_field(data.get("key_name"), "a key name")
    if name and state.name_taken(name, issuer=False):
        raise InvalidRequest(f'a key named "{name}" already exists in this mount')
    spec = x509util.spec_of(keys[0])
    entry = KeyEntry(id=b.new_id(), private_key=x509util.private_key_pem(keys[0], pkcs8=True),
                     key_type=spec.key_type if spec else "", key_bits=spec.bits if spec else 0, name=name)
    await ca.commit(b, req, ca.key_ops([entry], state))
    return Response(data=_view(entry))
