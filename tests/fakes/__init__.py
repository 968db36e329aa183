"""Fake ASF search (CMR), HyP3 API and file servers on 127.0.0.1 for the download tests.

They speak the real services' wire formats so that the real ``asf_search`` and ``hyp3_sdk`` code paths
run against them; nothing here reaches the network.
"""
