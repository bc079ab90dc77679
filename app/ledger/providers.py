"""Payout providers behind one small interface: hand a withdrawal over, learn later how it ended.

``submit(withdrawal) -> reference`` is called outside any unit of work with the
withdrawal's id as the provider's idempotency key: a repeat (after a crash between
the call and its record) returns the same reference and pays nothing twice.
``outcome(withdrawal, moment) -> Outcome | None`` says how it ended, None while the
provider does not know yet (the withdrawal stays as it is). ``may_return`` says
whether a succeeded withdrawal is still worth asking about (a bank may return it).
"""
from dataclasses import dataclass
from datetime import timedelta

PROVIDERS = ("sandbox", "manual")


@dataclass(frozen=True)
class Outcome:
    status: str                       # "succeeded", "failed" or "returned"
    failure_reason: str | None = None


class Sandbox:
    """Settles by itself: ``fail*`` accounts fail, ``return*`` ones succeed and come back later."""

    name = "sandbox"

    def __init__(self, settle_after_s=2.0, return_after_s=3.0):
        self.settle_after = timedelta(seconds=settle_after_s)
        self.return_after = timedelta(seconds=return_after_s)

    def submit(self, withdrawal):
        # Derived from the idempotency key alone: the same withdrawal always gets the same reference.
        return "sbx_" + withdrawal["_id"].split("_", 1)[1]

    def may_return(self, withdrawal):
        return withdrawal["destination"]["account"].startswith("return")

    def outcome(self, withdrawal, moment):
        account = withdrawal["destination"]["account"]
        if withdrawal["status"] == "processing" and moment >= withdrawal["processing_at"] + self.settle_after:
            if account.startswith("fail"):
                return Outcome("failed", "sandbox_declined")
            return Outcome("succeeded")
        if (withdrawal["status"] == "succeeded" and self.may_return(withdrawal)
                and moment >= withdrawal["succeeded_at"] + self.return_after):
            return Outcome("returned")
        return None


class Manual:
    """An operator pays each one by hand and says how it went (POST /withdrawals/{id}/settle)."""

    name = "manual"

    def submit(self, withdrawal):
        return "man_" + withdrawal["_id"].split("_", 1)[1]

    def may_return(self, withdrawal):
        return False

    def outcome(self, withdrawal, moment):
        return None


def from_config(config):
    """{name: provider} for every provider: withdrawals made under another setting still settle."""
    return {"sandbox": Sandbox(config["SANDBOX_SETTLE_S"], config["SANDBOX_RETURN_S"]),
            "manual": Manual()}
