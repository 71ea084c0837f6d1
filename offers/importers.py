"""offers' CSV importers (registered with core.imports when the app is ready)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from core.actors import Actor
from core.errors import DomainError
from core.imports import CsvRow, Importer, RowError, register_importer
from core.models import ImportJob
from crm.models import Customer
from crm.selectors.customers import customer_find
from crm.selectors.ledger import identifier_type_clean
from offers.models import CouponIssue
from offers.services.coupons import coupon_grant

MAX_COUNT = 100  # coupons per row: a larger figure is far more likely a typo than a campaign
# crm.selectors.ledger's identifier types, as crm.selectors.customers names them.
FINDER_KINDS = {"card": "card_number"}


@dataclass(slots=True)
class _Run:
    """What one run of a job carries from chunk to chunk: the coupons each (issue, member) pair
    has been given by the rows so far, which numbers the next ones."""

    given: Counter[tuple[int, int]]


@register_importer
class CouponIssueImporter(Importer):
    """Personal coupons to members named in a file: one row per issue id, identifier and count.

    A row's coupons are given by `offers.services.coupon_grant` (random unique codes, audited), one
    grant per coupon, with the key `csv:<customer id>:<n>`: the n-th coupon of that issue the file
    gives that member, counting over the file's rows in order. The key depends on neither the job,
    nor the line, nor the spelling of the identifier, so:

    - the same file uploaded again gives nothing: every key already exists;
    - a file whose bad rows were fixed, uploaded again, gives only the rows that failed before;
    - a member on two rows, or with `count` 3, gets 3 coupons; raising the count to 5 in a later
      file gives 2 more. To give everyone another round, name the members again with a higher count.

    The numbering restarts when a crashed run resumes: a member whose rows straddle the resume
    point then gets fewer coupons than the file says, never more.
    """

    kind = "offers.coupons"
    label = "Coupons to members (personal issues)"
    required_columns = ("issue", "identifier_type", "identifier")
    optional_columns = ("count",)
    permission = "offers.change_couponissue"
    chunk_size = 500  # each coupon is a grant, a code and an audit record: keep the transaction short

    def context(self, job: ImportJob) -> _Run:
        # Fresh per run (context is called once per run), so a re-run never continues a stale count.
        return _Run(given=Counter())

    def apply_chunk(self, job: ImportJob, prepared: list[CsvRow], context: _Run) -> list[RowError]:
        errors: list[RowError] = []
        issue_ids = {int(v) for v in (row.values["issue"].strip() for row in prepared) if v.isdigit()}
        issues = CouponIssue.objects.in_bulk(issue_ids)
        found: dict[tuple[str, str], Customer | None] = {}  # a member named on several rows is looked up once
        actor = Actor(kind=job.actor_kind or "system", id=job.actor_id, label=job.actor_label or "import")  # type: ignore[arg-type]
        for row in prepared:
            try:
                issue = _issue(row.values["issue"], issues)
                count = _count(row.values.get("count"))
                customer = _customer(row.values["identifier_type"], row.values["identifier"], found)
            except DomainError as exc:
                errors.append(RowError(row.line, exc.message))
                continue
            pair = (issue.pk, customer.pk)
            first = context.given[pair] + 1
            # Numbered before granting: the numbering follows the file, whatever a grant does.
            context.given[pair] += count
            try:
                for n in range(first, first + count):
                    coupon_grant(issue=issue, customer_id=customer.pk, key=f"csv:{customer.pk}:{n}", actor=actor)
            except DomainError as exc:
                # Coupons of this row given before the failure stay: their keys make a retry skip them.
                errors.append(RowError(row.line, f"issue: {exc.message}"))
        return errors


def _issue(value: str, issues: dict[int, CouponIssue]) -> CouponIssue:
    text = (value or "").strip()
    if not text.isdigit():
        raise DomainError("invalid_issue", f"issue: '{value}' is not a coupon issue id.", field="issue")
    issue = issues.get(int(text))
    if issue is None:
        raise DomainError("issue_not_found", f"issue: no coupon issue #{text}.", field="issue")
    if issue.kind != CouponIssue.Kind.PERSONAL:
        raise DomainError("issue_not_personal",
                          f"issue: #{issue.pk} is a {issue.kind} issue; only personal issues are given to members.",
                          field="issue")
    return issue


def _count(value: str | None) -> int:
    text = (value or "").strip()
    if not text:
        return 1
    if not text.isdigit() or not 1 <= int(text) <= MAX_COUNT:
        raise DomainError("invalid_count", f"count: '{value}' is not a whole number from 1 to {MAX_COUNT}.",
                          field="count")
    return int(text)


def _customer(kind_text: str, value: str, found: dict[tuple[str, str], Customer | None]) -> Customer:
    kind = identifier_type_clean(kind_text)
    key = (kind, (value or "").strip())
    if key not in found:
        try:
            found[key] = customer_find(kind=FINDER_KINDS.get(kind, kind), value=value)
        except DomainError as exc:  # a malformed phone or email: say which column
            raise DomainError(exc.code, f"identifier: {exc.message}", field="identifier") from exc
    customer = found[key]
    label = kind.replace("_", " ")
    if customer is None:
        raise DomainError("customer_not_found", f"identifier: no member with {label} '{key[1]}'.", field="identifier")
    if customer.state == Customer.State.BLOCKED:
        raise DomainError("customer_blocked", f"identifier: member #{customer.pk} is blocked.", field="identifier")
    return customer
