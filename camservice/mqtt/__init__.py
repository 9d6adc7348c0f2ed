"""The MQTT bridge: camservice's state, events and commands on a broker, and Home Assistant discovery."""
