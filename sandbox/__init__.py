"""The sandbox: a stand-in for the ad platform (Google Ads, Meta...), not part of adpilot.

It simulates campaigns hour by hour, with daily cycles, saturating response to spend and
injected anomalies whose ground truth is known, and feeds their metrics to the platform
through the gateway, as a real ad platform's reports would arrive.
"""
