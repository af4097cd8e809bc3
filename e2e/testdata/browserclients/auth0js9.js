// The entry esbuild bundles for the auth0-js 9 browser tests (the major
// version Lock 14 itself uses): window.auth0, as from a script tag.
import auth0 from "auth0-js-9";

window.auth0 = auth0;
