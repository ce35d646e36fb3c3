"""Enumerations of the domain.

Each class is a stable contract: its values appear in the API, in query parameters and in the
OpenAPI schema under the component name pinned in ``SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]``.
Adding a value is compatible; renaming or removing one is a breaking change.
"""

from django.db import models


class DatePrecision(models.TextChoices):
    """How much of a date is known. The stored date is the first day of the known period."""

    DAY = "day", "Day"
    MONTH = "month", "Month"
    YEAR = "year", "Year"


class DateQualifier(models.TextChoices):
    """How the date relates to the event: exactly then, at the latest, at the earliest, or about."""

    EXACT = "exact", "Exact"
    NO_LATER_THAN = "no_later_than", "No later than"
    NO_EARLIER_THAN = "no_earlier_than", "No earlier than"
    CIRCA = "circa", "Circa"


class CountQualifier(models.TextChoices):
    """How an approximate count relates to the true number."""

    EXACT = "exact", "Exact"
    APPROX = "approx", "Approximately"
    AT_LEAST = "at_least", "At least"
    MORE_THAN = "more_than", "More than"


class Support(models.TextChoices):
    """Whether a source states a fact outright, only implies it, or contradicts it."""

    STATED = "stated", "Stated"
    IMPLIED = "implied", "Implied"
    CONTRADICTS = "contradicts", "Contradicts"


class SourceText(models.TextChoices):
    """Whether a citation was checked against its source's own text, and what was found."""

    READ = "read", "Read: the quote and the support were checked against the source's text"
    NOT_FOUND = "not_found", "Not found: no copy of the source's text could be read"


class SourceType(models.TextChoices):
    NEWS = "news", "News article"
    WIRE_SYNDICATION = "wire_syndication", "Syndicated wire story"
    OFFICIAL_DOCUMENT = "official_document", "Official document"
    TRANSLATION = "translation", "Translation of an official document"
    COMPANY_ANNOUNCEMENT = "company_announcement", "Company announcement"
    ANALYSIS = "analysis", "Analysis or commentary"
    REFERENCE = "reference", "Reference work"
    DATASET = "dataset", "Dataset"


class OrganizationType(models.TextChoices):
    CENTRAL_BANK = "central_bank", "Central bank"
    REGULATOR = "regulator", "Regulator"
    GOVERNMENT_AGENCY = "government_agency", "Government agency"
    LOCAL_GOVERNMENT = "local_government", "Local government"
    COMPANY = "company", "Company"
    MEDIA = "media", "Media"
    INVESTMENT_FUND = "investment_fund", "Investment fund"


class PlatformType(models.TextChoices):
    MESSAGING = "messaging", "Messaging"
    SOCIAL = "social", "Social network"
    FORUM = "forum", "Forum"


class Encryption(models.TextChoices):
    """What the platform's messages are protected by, as far as the sources tell."""

    NONE = "none", "None"
    CLIENT_SERVER = "client_server", "Client-server"
    E2E_OPTIONAL = "e2e_optional", "End-to-end, optional"
    E2E_DEFAULT = "e2e_default", "End-to-end by default"
    ENCRYPTED_UNSPECIFIED = "encrypted_unspecified", "Encrypted, kind not stated"
    UNKNOWN = "unknown", "Unknown"


class UserMetric(models.TextChoices):
    """What a platform's user count measures."""

    MONTHLY_ACTIVE_USERS = "monthly_active_users", "Monthly active users"
    USERS_UNSPECIFIED = "users_unspecified", "Users (kind not stated)"


class AvailabilityStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    RESTRICTED = "restricted", "Restricted"
    BLOCKED = "blocked", "Blocked"


class ExchangeType(models.TextChoices):
    SPOT = "spot", "Spot exchange"
    OTC_DESK = "otc_desk", "Over-the-counter desk"
    P2P = "p2p", "Peer-to-peer market"
    DERIVATIVES = "derivatives", "Derivatives exchange"
    DEX = "dex", "Decentralised exchange"


class ExchangeStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    CEASED = "ceased", "Ceased"
    EXITED_JURISDICTION = "exited_jurisdiction", "Exited the jurisdiction"
    ACQUIRED = "acquired", "Acquired"
    UNKNOWN = "unknown", "Unknown"


class GroupType(models.TextChoices):
    GROUP = "group", "Group"
    CHANNEL = "channel", "Channel"
    ROOM = "room", "Room"


class GroupStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DISBANDED = "disbanded", "Disbanded"
    MIGRATED = "migrated", "Migrated"
    UNKNOWN = "unknown", "Unknown"


class Affiliation(models.TextChoices):
    """Whether an exchange runs a group itself."""

    OFFICIAL = "official", "Official"
    UNOFFICIAL = "unofficial", "Unofficial"
    UNKNOWN = "unknown", "Unknown"


class ActionType(models.TextChoices):
    BAN = "ban", "Ban"
    RULE = "rule", "Rule"
    NOTICE = "notice", "Notice"
    ORDER = "order", "Order"
    ENFORCEMENT = "enforcement", "Enforcement"
    CENSORSHIP_BLOCK = "censorship_block", "Censorship block"
    LICENSING = "licensing", "Licensing"
    WARNING = "warning", "Warning"
    PROPOSAL = "proposal", "Proposal"


class ActionStatus(models.TextChoices):
    """How far an action is known to have gone."""

    REPORTED = "reported", "Reported, not confirmed"
    ANNOUNCED = "announced", "Announced"
    IN_FORCE = "in_force", "In force"
    SUPERSEDED = "superseded", "Superseded"
    REPEALED = "repealed", "Repealed"


class IssuerRole(models.TextChoices):
    LEAD = "lead", "Lead issuer"
    CO_ISSUER = "co_issuer", "Co-issuer"
    ENFORCER = "enforcer", "Enforcer"


class TargetCategory(models.TextChoices):
    """A class of actors an action applies to, when it names no single record."""

    ICO_ISSUERS = "ico_issuers", "ICO issuers"
    EXCHANGES = "exchanges", "Exchanges"
    OTC_PLATFORMS = "otc_platforms", "OTC platforms"
    TOKEN_TRADING_PLATFORMS = "token_trading_platforms", "Token trading platforms"
    GROUP_ADMINS = "group_admins", "Group administrators"
    GROUP_MEMBERS = "group_members", "Group members"
    GROUP_PLATFORMS = "group_platforms", "Group information service providers"
    FINANCIAL_INSTITUTIONS = "financial_institutions", "Financial institutions"
    PAYMENT_INSTITUTIONS = "payment_institutions", "Payment institutions"
    OVERSEAS_EXCHANGES = "overseas_exchanges", "Overseas exchanges serving residents"


class TargetEffect(models.TextChoices):
    PROHIBITED = "prohibited", "Prohibited"
    MUST_CEASE = "must_cease", "Must cease"
    LIABILITY_IMPOSED = "liability_imposed", "Liability imposed"
    OBLIGATIONS_IMPOSED = "obligations_imposed", "Obligations imposed"
    BLOCKED = "blocked", "Blocked"
    DISCIPLINED = "disciplined", "Disciplined"
    WARNED = "warned", "Warned"


class ResponseType(models.TextChoices):
    HALT_ALL_TRADING = "halt_all_trading", "Halt all trading"
    HALT_FIAT_TRADING = "halt_fiat_trading", "Halt fiat-currency trading"
    SUSPEND_OTC = "suspend_otc", "Suspend OTC trading"
    STOP_REGISTRATIONS = "stop_registrations", "Stop new registrations"
    STOP_DEPOSITS = "stop_deposits", "Stop deposits"
    CLOSE_WEBSITE = "close_website", "Close website"
    CLOSE_EXCHANGE = "close_exchange", "Close the exchange"
    EXIT_MARKET = "exit_market", "Exit the market"


class HistoryType(models.TextChoices):
    """What a history entry records."""

    CREATED = "created", "Created"
    CHANGED = "changed", "Changed"
    DELETED = "deleted", "Deleted"


class PublicationStatus(models.TextChoices):
    """Where a record is in the publishing workflow."""

    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    RETRACTED = "retracted", "Retracted"


class ChangeOperation(models.TextChoices):
    """What a changes-feed entry says happened to a record of the public dataset."""

    CREATED = "created", "Created: the record entered the public dataset"
    UPDATED = "updated", "Updated: its public representation changed"
    RETRACTED = "retracted", "Retracted: it left the public dataset but is kept"
    DELETED = "deleted", "Deleted: it was removed for good"
