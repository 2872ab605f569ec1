"""English dates as the product always wrote them (ISO 8601, no US month-first order); every
other format, and every other language, is Django's own (Spanish: 07/12/2026)."""

SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
