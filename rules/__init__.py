"""The shipped rule packs: YAML and CSV data, packaged as tierwise.packs so that an installed
tierwise finds them."""
