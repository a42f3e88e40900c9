"""The one paho-mqtt adapter, shared by the agent on the Pi and the hub in the desk service."""
