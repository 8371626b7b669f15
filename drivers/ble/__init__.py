"""Bluetooth LE health devices over bleak: discovery, bonding, indications, RACP, reconnect."""
