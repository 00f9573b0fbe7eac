/**
 * Kept for lib/, which imports these from here: the rules now live by topic under rules/.
 */
export { keepsRunning, timeout } from './rules/timing.js';
