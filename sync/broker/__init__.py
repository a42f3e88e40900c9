"""The site broker (Mosquitto) as installed on its host: configuration, ACL, passwords, and
the provisioning commands that write them."""
