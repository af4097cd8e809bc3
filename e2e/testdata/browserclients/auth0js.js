// The entry esbuild bundles for the auth0-js browser tests: auth0-js as a page
// gets it from a script tag, window.auth0.
import auth0 from "auth0-js";

window.auth0 = auth0;
