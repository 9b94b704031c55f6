"""The sandbox: a stand-in for the ad platform (Google Ads, Meta...), not part of adpilot.

It simulates campaigns hour by hour, with daily cycles, saturating response to spend and
injected anomalies whose ground truth is known. ``sandbox.server`` serves ad accounts over
HTTP (campaigns, changes, hourly reports) and pushes finished hours to the gateway, as a
real ad platform's reports would arrive; ``sandbox.driver`` feeds the gateway directly.
"""
