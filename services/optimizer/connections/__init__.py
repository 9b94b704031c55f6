"""Ad-platform connections: the ad account each tenant links, its sealed credentials and
the status its calls leave (``/api/ai/connections``)."""
