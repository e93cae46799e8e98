// The fan pages' scripts, loaded once per visit: navigation swaps the page under the player
// (so the music never stops), then each part decorates whatever page is shown.
import "./nav.js";
import "./player/index.js";
import "./offline/index.js";
import "./search.js";
import "./collection.js";
import "./lyrics.js";
import "./history.js";
import { announceFirstPage } from "./nav.js";

announceFirstPage();
