"""The `ivr` command line's commands, one module per area (`ivr.cli` assembles the parser). They
are wiring, like `ivr.cli`: they build what they need through `ivr.clitools` and an `ivr.assembly.Assembly`,
or talk to the running engine through its API (`ivr.apiclient`); no feature imports them."""
