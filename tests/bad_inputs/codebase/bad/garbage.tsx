export default function (
  <<<>>> }}} {{{ ((( ]]] ;; ::
  return <div class=
