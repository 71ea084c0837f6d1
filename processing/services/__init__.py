"""The till API's use cases (one transaction each). See docs/processing.md."""
from processing.services.cheques import cheque_calculate, cheque_cancel, cheque_confirm, cheque_offline
from processing.services.qr import qr_issue
from processing.services.refunds import cheque_refund

__all__ = ["cheque_calculate", "cheque_cancel", "cheque_confirm", "cheque_offline", "cheque_refund", "qr_issue"]
