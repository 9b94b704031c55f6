"""Auction Insights reports laid out as Google Ads and Microsoft Advertising download
them, for the tests of their import."""

from __future__ import annotations

import csv
import io

# A Google Ads download: title and date range above the header, a day segment, "< 10%"
# and "--", and the tenant's own row as "You".
GOOGLE = """Auction insights report
"November 1, 2026 - November 2, 2026"
Day,Display URL domain,Impression share,Overlap rate,Position above rate,Top of page rate,Abs. Top of page rate,Outranking share
2026-11-01,You,45.23%,--,--,61.50%,20.00%,--
2026-11-01,rival.example,< 10%,12.40%,30.00%,55.10%,9.75%,8.00%
2026-11-02,You,47.00%,--,--,60.00%,21.00%,--
2026-11-02,Rival.Example,11.20%,13.00%,31.50%,54.00%,10.00%,7.90%
"""  # noqa: E501

# A Microsoft Advertising download: report lines above, the copyright line below, and
# Microsoft's name for the absolute top of page rate; a campaign segment, no day.
MICROSOFT = """Report Name: Auction insights
Report Time: 11/1/2026 - 11/30/2026
Time Zone: (GMT) Coordinated Universal Time

Campaign,Display URL domain,Impression share,Overlap rate,Position above rate,Top of page rate,Absolute top of page rate,Outranking share
Brand,You,52.10%,--,--,70.00%,33.30%,--
Brand,shop.example,"1,5%",40.00%,25.00%,65.00%,12.00%,35.00%
Generic,shop.example,20.00%,41.00%,26.00%,66.00%,13.00%,36.00%
©2026 Microsoft Corporation. All rights reserved.
"""  # noqa: E501


def excel_variant(text: str) -> bytes:
    """The "Excel CSV" download: UTF-16 little-endian with its BOM, tab-separated."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\r\n")
    for cells in csv.reader(io.StringIO(text)):
        writer.writerow(cells)
    return out.getvalue().encode("utf-16")
