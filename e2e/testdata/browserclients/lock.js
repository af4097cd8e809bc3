// The entry esbuild bundles for the Lock browser tests: window.Auth0Lock, as
// Lock's own CDN build gives it.
import Auth0Lock from "auth0-lock";

window.Auth0Lock = Auth0Lock;
