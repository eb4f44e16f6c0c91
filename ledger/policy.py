"""Who must sign what: the co-managed account (共管账户) in code.

A policy maps each class of entry to a rule over the roles of its signers. A rule
has ``all_of`` (at least one signature by each of these roles) and ``any_of`` (at
least one signature by any of these roles). The default policy: money leaving an
``Assets:Bank`` account needs a trustee and a committee signature; other
transactions one of either; key and policy changes the committee and the operator;
withdrawing a voucher's bytes (redaction) the committee.

Rules added after payload v1 (:data:`LATER_RULES`) are optional in a policy
object and default to :data:`DEFAULT_POLICY`'s, so genesis and policy entries
signed before they existed stay valid.

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

V1_RULES: tuple[str, ...] = (
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
"""The rules of payload v1: every policy object must name each of them."""
LATER_RULES: tuple[str, ...] = (
    "redaction",  # withdrawing a voucher's bytes (the entry that referenced it stays)
)
"""Rules added later: optional in a policy object, filled from :data:`DEFAULT_POLICY`."""
RULES: tuple[str, ...] = V1_RULES + LATER_RULES


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

    def missing(self, signer_roles: Iterable[str]) -> list[str]:
        """Every requirement not yet met: each missing ``all_of`` role, then ``a|b|…``
        for an unmet ``any_of``. Empty when the signers satisfy the rule."""
        have = set(signer_roles)
        out: list[str] = [role for role in self.all_of if role not in have]
        if self.any_of and not have.intersection(self.any_of):
            out.append("|".join(self.any_of))
        return out

    def check(self, rule_name: str, signer_roles: Iterable[str]) -> None:
        """Raise :class:`MissingSignature` naming the first requirement that is not met."""
        have = set(signer_roles)
        if all(role in have for role in self.all_of) and (
            not self.any_of or not have.isdisjoint(self.any_of)
        ):
            return  # met (what missing() says when it lists nothing)
        missing = self.missing(have)
        if not missing:
            return
        role = missing[0]
        if role in self.all_of:
            needs = f"a signature by a {role} key ({ROLE_NAMES_ZH[role]})"
        else:
            needs = f"a signature by one of {', '.join(self.any_of)}"
        raise MissingSignature(
            f"{rule_name}: needs {needs}; signed by: {_roles(have)}",
            field="signatures",
            rule=rule_name,
            role=role,
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
        ("redaction", Rule(all_of=("committee",))),
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
    """Strictly parse a policy object.

    Every rule of :data:`V1_RULES` must be present; one of :data:`LATER_RULES` that
    is absent takes the default policy's rule. Unknown rule names are refused.
    """
    obj = Obj(value, path, set(V1_RULES), set(LATER_RULES))
    rules = []
    for name in RULES:
        if not obj.has(name):
            rules.append((name, DEFAULT_POLICY.rule(name)))
            continue
        r = Obj(obj.raw(name), obj.at(name), set(), {"all_of", "any_of"})
        rule = Rule(all_of=_roles_list(r, "all_of"), any_of=_roles_list(r, "any_of"))
        if not rule.all_of and not rule.any_of:
            raise InvalidInput(f"{obj.at(name)}: a rule must require some signature", field=path)
        rules.append((name, rule))
    return Policy(rules=tuple(rules))
