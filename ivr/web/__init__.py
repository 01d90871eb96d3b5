"""HTTP helpers every page shares, low in the layers: the client's address behind the trusted
proxies (`clientaddr`) and the security headers and CORS rule (`guard`). The JSON API (`api/`)
is only the HTTP host; the console, the statistics page and the web request form import these
from here, not from it."""
