// The input schemas live in lib/, shared with the console's forms; routers import them from here or there.
export * from "../../lib/schemas";
