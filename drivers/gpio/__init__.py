"""GPIO parts on the Pi through gpiozero: PIR, help button, status LED, ultrasonic height."""
