"""Other implementations of some of the API, for bench/http.py to measure the gateway against."""
