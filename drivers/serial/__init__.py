"""Serial kiosk devices over pyserial: framers, published protocols, a line scanner."""
