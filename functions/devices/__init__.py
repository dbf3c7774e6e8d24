"""The device and software sync: a customer tenant's Intune devices, their software and
hardware, read in resumable steps, planned (pure) and stored packed."""
