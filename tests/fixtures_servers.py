"""Fixtures that start real peers on 127.0.0.1: an asyncua OPC UA server, a mosquitto broker.

Owned by the adapters engineer."""
