// HTML files are text modules of the worker bundle (wrangler's default module rule for **/*.html).
declare module "*.html" {
  const text: string;
  export default text;
}
