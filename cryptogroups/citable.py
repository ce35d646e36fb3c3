"""The fields a citation of each kind of record can name, by model name: the fields of the
record's API representation (``cited_fields``), published as enums in the OpenAPI schema."""

from cryptogroups import models

Organization = models.Organization.cited_fields
Platform = models.Platform.cited_fields
PlatformAvailability = models.PlatformAvailability.cited_fields
Exchange = models.Exchange.cited_fields
ExchangeResponse = models.ExchangeResponse.cited_fields
Group = models.Group.cited_fields
Migration = models.Migration.cited_fields
RegulatoryAction = models.RegulatoryAction.cited_fields
