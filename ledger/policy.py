"""Who must sign what: the co-managed account (共管账户) in code.

A policy maps each class of entry to a rule over the roles of its signers. A rule
has ``all_of`` (at least one signature by each of these roles) and ``any_of`` (at
least one signature by any of these roles). The default policy: money leaving an
``Assets:Bank`` account needs a trustee and a committee signature; other
transactions one of either; key and policy changes the committee and the operator.

Pure: evaluates values, never reads the log. Which class an entry falls in is
decided by :mod:`ledger.validate`, which knows the entry's postings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from ledger.errors import InvalidInput, MissingSignature
from ledger.fields import Obj

Role = Literal["committee", "trustee", "supervisor", "auditor", "operator"]
ROLES: tuple[Role, ...] = ("committee", "trustee", "supervisor", "auditor", "operator")

ROLE_NAMES_ZH: Mapping[str, str] = {
    "committee": "业委会",
    "trustee": "受托人（物业）",
    "supervisor": "信托监察人",
    "auditor": "审计",
    "operator": "平台运营方",
}

RULES: tuple[str, ...] = (
    "genesis",  # founding the estate's log
    "spend",  # a transaction that credits (takes money out of) an Assets:Bank account
    "income",  # any other transaction
    "reversal",  # cancelling an earlier transaction
    "key",  # registering or revoking an author key
    "account",  # opening or closing an account
    "budget",  # the annual budget approved by the owners' assembly
    "document",  # disclosing a document
    "policy",  # changing this policy
)


@dataclass(frozen=True)
class Rule:
    all_of: tuple[Role, ...] = ()
    any_of: tuple[Role, ...] = ()

    def to_json(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        if self.all_of:
            out["all_of"] = list(self.all_of)
        if self.any_of:
            out["any_of"] = list(self.any_of)
        return out

    def check(self, rule_name: str, signer_roles: Iterable[str]) -> None:
        """Raise :class:`MissingSignature` naming the first role that has not signed."""
        have = set(signer_roles)
        for role in self.all_of:
            if role not in have:
                raise MissingSignature(
                    f"{rule_name}: needs a signature by a {role} key "
                    f"({ROLE_NAMES_ZH[role]}); signed by: {_roles(have)}",
                    field="signatures",
                    rule=rule_name,
                    role=role,
                )
        if self.any_of and not have.intersection(self.any_of):
            raise MissingSignature(
                f"{rule_name}: needs a signature by one of {', '.join(self.any_of)}; "
                f"signed by: {_roles(have)}",
                field="signatures",
                rule=rule_name,
                role="|".join(self.any_of),
            )


def _roles(have: set[str]) -> str:
    return ", ".join(sorted(have)) or "nobody"


@dataclass(frozen=True)
class Policy:
    rules: tuple[tuple[str, Rule], ...]

    def rule(self, name: str) -> Rule:
        for key, rule in self.rules:
            if key == name:
                return rule
        raise InvalidInput(f"policy has no rule {name!r}")

    def check(self, rule_name: str, signer_roles: Iterable[str]) -> None:
        self.rule(rule_name).check(rule_name, signer_roles)

    def to_json(self) -> dict[str, Any]:
        return {name: rule.to_json() for name, rule in self.rules}


DEFAULT_POLICY = Policy(
    rules=(
        ("genesis", Rule(all_of=("operator",))),
        ("spend", Rule(all_of=("trustee", "committee"))),
        ("income", Rule(any_of=("trustee", "committee"))),
        ("reversal", Rule(all_of=("trustee", "committee"))),
        ("key", Rule(all_of=("committee", "operator"))),
        ("account", Rule(any_of=("trustee", "committee"))),
        ("budget", Rule(all_of=("committee",))),
        ("document", Rule(any_of=("trustee", "committee", "supervisor", "auditor"))),
        ("policy", Rule(all_of=("committee", "operator"))),
    )
)


def _roles_list(obj: Obj, name: str) -> tuple[Role, ...]:
    roles = obj.list(name, max_len=len(ROLES))
    for i, role in enumerate(roles):
        if role not in ROLES:
            raise InvalidInput(f"{obj.at(name)}[{i}]: unknown role {role!r}", field=obj.at(name))
    if len(set(roles)) != len(roles):
        raise InvalidInput(f"{obj.at(name)}: a role is listed twice", field=obj.at(name))
    return tuple(cast(Role, r) for r in roles)


def parse_policy(value: Any, path: str = "policy") -> Policy:
    """Strictly parse a policy object; every rule in :data:`RULES` must be present."""
    obj = Obj(value, path, set(RULES), set())
    rules = []
    for name in RULES:
        r = Obj(obj.raw(name), obj.at(name), set(), {"all_of", "any_of"})
        rule = Rule(all_of=_roles_list(r, "all_of"), any_of=_roles_list(r, "any_of"))
        if not rule.all_of and not rule.any_of:
            raise InvalidInput(f"{obj.at(name)}: a rule must require some signature", field=path)
        rules.append((name, rule))
    return Policy(rules=tuple(rules))
