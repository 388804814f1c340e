"""Safe XML reading: the only way this plugin parses XML.

Two locks. defusedxml (expat) reads the prolog up to the root element and refuses any DTD that
declares entities (entity-expansion bombs, external entities such as ``file:///etc/passwd``);
that first event also names the root element, which is how the format is detected. lxml then
parses the file with entity substitution, DTD loading and network access off and its size
limits on (``huge_tree=False``) and a resolver that reads no external resource (an external DTD
named by a path is never opened), and a declared entity found there is refused as well.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from custom_llm import InputError


class UnsafeXML(InputError):
    """The file is refused for safety (entities, external references); the message says why."""


class BadXML(InputError):
    """The file is not well-formed XML (truncated, broken); the message says where."""


@dataclass(frozen=True)
class RootInfo:
    """The root element of a file: namespace URI ('' for none) and local name."""

    namespace: str
    name: str

    @property
    def clark(self) -> str:
        return f"{{{self.namespace}}}{self.name}" if self.namespace else self.name


def _split(tag: str) -> RootInfo:
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return RootInfo(namespace, name)
    return RootInfo("", tag)


def sniff_root(data: bytes) -> RootInfo:
    """The root element, read with defusedxml so that a hostile DTD is refused before lxml runs."""
    import xml.etree.ElementTree as ElementTree

    from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
    from defusedxml.ElementTree import iterparse

    try:
        for _event, element in iterparse(io.BytesIO(data), events=("start",)):
            return _split(element.tag)
    except EntitiesForbidden as error:
        where = f" pointing to {error.sysid}" if getattr(error, "sysid", None) else ""
        kind = "external entity" if where else "entity declaration"
        raise UnsafeXML(
            f"unsafe XML: the DTD declares {kind} {error.name!r}{where}; entity declarations are refused (entity-expansion bombs, external entities)"
        ) from None
    except ExternalReferenceForbidden as error:
        raise UnsafeXML(f"unsafe XML: external reference to {error.sysid!r} is refused") from None
    except DTDForbidden:  # pragma: no cover - DTDs are allowed, only entities are refused
        raise UnsafeXML("unsafe XML: DTD refused") from None
    except ElementTree.ParseError as error:
        raise BadXML(f"malformed XML: {error}") from None
    except LookupError as error:  # expat asks Python for the codec the XML declaration names
        raise BadXML(f"malformed XML: the XML declaration names an {error}") from None
    raise BadXML("malformed XML: no root element")


def _parser() -> Any:
    from lxml import etree

    class NothingExternal(etree.Resolver):
        """Every external resource (an external DTD such as ``<!DOCTYPE x SYSTEM "local.dtd">``)
        resolves to nothing. Without it libxml2 opens a local DTD path even with ``load_dtd=False``
        (a file outside the source, or a FIFO that would block the run); with it nothing is read."""

        def resolve(self, url: str, public_id: str, context: Any) -> Any:
            return self.resolve_string("", context)

    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
        recover=False,
    )
    parser.resolvers.add(NothingExternal())
    return parser


def parse(data: bytes) -> Any:
    """The root element of ``data`` parsed by lxml with every dangerous feature off.

    Raises ``UnsafeXML`` or ``BadXML`` with a reason a user can act on.
    """
    sniff_root(data)
    return parse_unchecked(data)


def parse_unchecked(data: bytes) -> Any:
    """lxml parse with the hardened parser; for callers that already ran ``sniff_root``."""
    from lxml import etree

    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as error:
        message = str(error).split("\n")[0]
        if "amplification" in message.lower() or "entity reference loop" in message.lower():
            raise UnsafeXML(f"unsafe XML: {message}") from None
        if "Premature end" in message or "EndTag" in message or "end of data" in message.lower():
            raise BadXML(f"truncated or malformed XML: {message}") from None
        raise BadXML(f"malformed XML: {message}") from None
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None:
        names = [entity.name for entity in dtd.iterentities()]
        if names:
            raise UnsafeXML(f"unsafe XML: the DTD declares entities {names[:3]}; entity declarations are refused")
    return root


def local_name(element: Any) -> str:
    """The tag without namespace; '' for comments and processing instructions."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2] if tag[0] == "{" else tag
