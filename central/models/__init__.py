"""The desk's data model, one concept per module; importing this package registers every
table on ``Base.metadata`` (what Alembic and the tests compare against)."""

from central.models.applications import (
    Application,
    ApplicationKind,
    ConfirmationMethod,
    Evidence,
    EvidenceKind,
)
from central.models.auth_log import AUTH_LOG_CHANNEL, AuthLogEntry
from central.models.base import AppendOnly, Base, FrozenColumns
from central.models.booths import Booth
from central.models.cards import Card, CardState, Grant, Schedule
from central.models.gates import (
    AccessGroup,
    Device,
    Gate,
    GateCommand,
    GateCommandKind,
    GateRole,
)
from central.models.goods import GoodsPass, GoodsReleaseSlip
from central.models.loss import LossKind, LossReport
from central.models.money import Fee, FeeKind, PaymentMethod, Receipt, ReceiptItem, ReceiptLine
from central.models.parking import (
    NamedBy,
    ParkingMonthlyReport,
    ParkingSpace,
    ParkingSubscription,
    ParkingTopUp,
    ReservedSpaceVehicle,
    SpaceKind,
    Vehicle,
)
from central.models.people import (
    DIRECT_RELATIVES,
    RESIDENT_KINDS,
    HolderKind,
    Household,
    HouseholdKind,
    Person,
    Relationship,
)
from central.models.register import RegisterAction, RegisterEntry
from central.models.renovation import (
    DepositPayer,
    RenovationDeposit,
    RenovationExtension,
    RenovationFiling,
    RenovationWorker,
)
from central.models.site import Building, ReaderUidOrder, Site, SiteSettings, Unit, UnitKind
from central.models.staff import LoginAttempt, Role, Staff, StaffSession, StaffSiteRole
from central.models.stored_value import BalanceEntry, BalanceMovement
from central.models.visitors import TemporaryParkingPermit, VisitorPass, VisitorRegistration

__all__ = [
    "DIRECT_RELATIVES", "RESIDENT_KINDS", "AccessGroup", "AppendOnly", "Application",
    "ApplicationKind", "AuthLogEntry", "Base", "Building", "Card", "CardState",
    "ConfirmationMethod", "DepositPayer", "Device", "Evidence", "EvidenceKind", "Fee", "FeeKind",
    "FrozenColumns", "Gate", "GateCommand", "GateCommandKind", "GateRole", "GoodsPass",
    "GoodsReleaseSlip", "Grant", "HolderKind",
    "Household", "HouseholdKind", "LoginAttempt", "LossKind", "LossReport", "NamedBy",
    "ParkingMonthlyReport", "ParkingSpace", "ParkingSubscription", "ParkingTopUp", "PaymentMethod",
    "Person", "Receipt", "ReceiptItem", "ReceiptLine", "RegisterAction", "RegisterEntry",
    "Relationship", "RenovationDeposit", "RenovationExtension", "RenovationFiling",
    "RenovationWorker", "ReservedSpaceVehicle", "Role", "Schedule", "Site", "SiteSettings",
    "SpaceKind", "Staff", "StaffSession", "TemporaryParkingPermit", "Unit", "UnitKind", "Vehicle",
    "VisitorPass", "VisitorRegistration",
]
# Stored value (issue 9) and the desk reader setting, kept apart to keep merges small.
__all__ += ["BalanceEntry", "BalanceMovement", "ReaderUidOrder"]
# The channel a change to the gates is announced on (issue 14).
__all__ += ["AUTH_LOG_CHANNEL"]
# Roles at more than one site (issue 14).
__all__ += ["StaffSiteRole"]
# The guards' booth records (issue 11), kept apart to keep merges small.
from central.models.booth_records import (  # noqa: E402
    BoothCursor,
    BoothParkingCharge,
    BoothRecordApplied,
    BoothRecordOutcome,
    BoothShift,
    BoothSlipExit,
    BoothVisit,
)

__all__ += ["BoothCursor", "BoothParkingCharge", "BoothRecordApplied", "BoothRecordOutcome",
            "BoothShift", "BoothSlipExit", "BoothVisit"]
# Guard booths (issue 11).
__all__ += ["Booth"]
# The site's rules the gates apply offline (issue 12), kept apart to keep merges small.
from central.models.site_rules import (  # noqa: E402
    Holiday,
    Lot,
    ParkingPolicySetting,
    SiteRulesVersion,
    TimedMode,
)

__all__ += ["Holiday", "Lot", "ParkingPolicySetting", "SiteRulesVersion", "TimedMode"]
