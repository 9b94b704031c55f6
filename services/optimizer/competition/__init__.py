"""Competitive intelligence: Auction Insights from the sandbox, from report files and from
Microsoft Advertising's API, kept per campaign, competitor and day."""
