// Work in progress: see the open issue for Koa and NestJS.
export {};
